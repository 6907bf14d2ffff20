/*
 * overlaynet/ports.c - published ports: parsing HostConfig.PortBindings
 * (and Config.ExposedPorts for -P) and reserving the host ports.
 *
 * Traffic to a published port is DNATed by nftables before any socket sees
 * it; the reservation socket (bound, never listening) only keeps another
 * program or container from taking the same port, as dockerd does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/err.h"

#include "overlaynet/internal.h"

/* "80/tcp" -> port 80, proto tcp */
static int parse_key(const char *key, uint16_t *ret_port, int *ret_proto)
{
    char *end;
    long p;

    errno = 0;
    p = strtol(key, &end, 10);
    if (errno || end == key || p < 1 || p > 65535)
        return -EINVAL;
    if (!*end || strcmp(end, "/tcp") == 0)
        *ret_proto = IPPROTO_TCP;
    else if (strcmp(end, "/udp") == 0)
        *ret_proto = IPPROTO_UDP;
    else
        return -EINVAL;
    *ret_port = (uint16_t)p;
    return 0;
}

static int add(struct onet_port **v, size_t *n, struct onet_port p)
{
    struct onet_port *nv;

    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].proto == p.proto && (*v)[i].ctr_port == p.ctr_port &&
            (*v)[i].host_port == p.host_port && (*v)[i].host_ip == p.host_ip && p.host_port)
            return 0;
    nv = realloc(*v, (*n + 1) * sizeof(*nv));
    if (!nv)
        return -ENOMEM;
    nv[(*n)++] = p;
    *v = nv;
    return 0;
}

int onet__ports_parse(json_t *host_config, json_t *config, struct onet_port **ret, size_t *ret_n,
                      struct err *err)
{
    json_t *pb = json_object_get(host_config, "PortBindings");
    bool all = json_is_true(json_object_get(host_config, "PublishAllPorts"));
    struct onet_port *v = NULL;
    size_t n = 0;
    const char *key;
    json_t *val;

    if (pb && !json_is_null(pb) && !json_is_object(pb))
        return err_set(err, -EINVAL, "invalid PortBindings: not an object");
    json_object_foreach(pb, key, val)
    {
        struct onet_port p = {.fd = -1};
        size_t i;
        json_t *b;

        if (parse_key(key, &p.ctr_port, &p.proto) < 0) {
            free(v);
            return err_set(err, -EINVAL, "invalid port specification: \"%s\"", key);
        }
        if (json_is_null(val) || json_array_size(val) == 0)
            continue; /* exposed, not published */
        if (!json_is_array(val)) {
            free(v);
            return err_set(err, -EINVAL, "invalid PortBindings for %s", key);
        }
        json_array_foreach(val, i, b)
        {
            const char *hip = json_string_value(json_object_get(b, "HostIp"));
            const char *hp = json_string_value(json_object_get(b, "HostPort"));
            struct onet_port q = p;

            if (hip && *hip && strcmp(hip, "0.0.0.0") != 0 && onet__ip_parse(hip, &q.host_ip) < 0) {
                free(v);
                if (strchr(hip, ':'))
                    return err_set(err, -EINVAL,
                                   "IPv6 host addresses are not supported for published ports "
                                   "('%s')",
                                   hip);
                return err_set(err, -EINVAL, "invalid host IP address '%s'", hip);
            }
            if (hp && *hp) {
                char *end;
                long x;
                errno = 0;
                x = strtol(hp, &end, 10);
                if (errno || *end || x < 1 || x > 65535) {
                    free(v);
                    return err_set(err, -EINVAL, "invalid host port '%s' for %s%s", hp, key,
                                   strchr(hp, '-') ? " (port ranges are not supported)" : "");
                }
                q.host_port = (uint16_t)x;
            }
            if (add(&v, &n, q) < 0)
                goto oom;
        }
    }
    if (all) {
        json_t *ex = json_object_get(config, "ExposedPorts");
        json_object_foreach(ex, key, val)
        {
            struct onet_port p = {.fd = -1};
            bool have = false;

            if (parse_key(key, &p.ctr_port, &p.proto) < 0) {
                free(v);
                return err_set(err, -EINVAL, "invalid exposed port \"%s\"", key);
            }
            for (size_t i = 0; i < n; i++)
                have |= v[i].ctr_port == p.ctr_port && v[i].proto == p.proto;
            if (!have && add(&v, &n, p) < 0)
                goto oom;
        }
    }
    *ret = v;
    *ret_n = n;
    return 0;
oom:
    free(v);
    return err_set(err, -ENOMEM, "out of memory");
}

static int reserve_one(struct onet_port *p, struct err *err)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    char ip[16];
    int fd =
        socket(AF_INET, (p->proto == IPPROTO_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return err_set(err, -errno, "socket: %s", strerror(errno));
    sa.sin_addr.s_addr = htonl(p->host_ip);
    sa.sin_port = htons(p->host_port);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        (void)close(fd);
        onet__ip_fmt(p->host_ip, ip);
        if (e == EADDRINUSE)
            return err_set(err, -EEXIST, "Bind for %s:%u failed: port is already allocated", ip,
                           p->host_port);
        return err_set(err, -e, "Bind for %s:%u failed: %s", ip, p->host_port, strerror(e));
    }
    if (getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        p->host_port = ntohs(sa.sin_port);
    p->fd = fd;
    return 0;
}

int onet__ports_reserve(struct onet_port *p, size_t n, struct err *err)
{
    for (size_t i = 0; i < n; i++) {
        int r;
        if (p[i].fd >= 0)
            continue;
        if ((r = reserve_one(&p[i], err)) < 0) {
            onet__ports_unreserve(p, i);
            return r;
        }
    }
    return 0;
}

void onet__ports_unreserve(struct onet_port *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i].fd >= 0) {
            (void)close(p[i].fd);
            p[i].fd = -1;
        }
}
