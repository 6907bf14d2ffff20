/*
 * overlaynet/internal.h - shared between overlaynet/ files only (onet__ prefix).
 * Addresses (uint32_t) are in host byte order throughout.
 */
#ifndef OVERLAYNET_INTERNAL_H
#define OVERLAYNET_INTERNAL_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "overlaynet/overlaynet.h"

struct err;
struct nl_sock;

/* ---- ipam.c ------------------------------------------------------------ */

struct onet_cidr {
    uint32_t addr; /* as written (host bits kept) */
    int prefix;
};

/* "10.1.2.3/24" -> cidr; -EINVAL for anything else. */
int onet__cidr_parse(const char *s, struct onet_cidr *ret);
/* "10.1.2.3" -> address. */
int onet__ip_parse(const char *s, uint32_t *ret);
uint32_t onet__mask(int prefix);
bool onet__cidr_overlap(struct onet_cidr a, struct onet_cidr b);
bool onet__cidr_contains(struct onet_cidr net, uint32_t ip);
void onet__ip_fmt(uint32_t ip, char out[16]);
/* "a.b.c.d/p" of the network (host bits cleared). */
void onet__cidr_fmt(struct onet_cidr c, char out[19]);

/* Address pool of one subnet: a bitmap over host numbers. */
struct onet_pool {
    struct onet_cidr net; /* host bits cleared */
    uint8_t *bits;
    uint32_t size; /* 2^(32-prefix) */
    uint32_t next; /* where the next sequential search starts */
};
int onet__pool_init(struct onet_pool *p, struct onet_cidr net);
void onet__pool_release(struct onet_pool *p);
/* Mark an address used; -EEXIST if already, -EINVAL if outside or the
 * network/broadcast address. */
int onet__pool_take(struct onet_pool *p, uint32_t ip);
void onet__pool_put(struct onet_pool *p, uint32_t ip);
/* Next free address (sequential, wrapping); -ENOSPC when full. */
int onet__pool_alloc(struct onet_pool *p, uint32_t *ret);

/* ---- netlink.c (libnl-3 route) ------------------------------------------ */

/* Run fn(arg) on a helper thread inside the namespace nsfd, wait for it. */
int onet__in_netns(int nsfd, int (*fn)(void *arg), void *arg);
/* A NETLINK_ROUTE socket in namespace nsfd (-1: the caller's). */
int onet__nl_open(int nsfd, struct nl_sock **ret, struct err *err);
void onet__nl_close(struct nl_sock *sk);
int onet__link_ifindex(struct nl_sock *sk, const char *name);
int onet__bridge_add(struct nl_sock *sk, const char *name, int mtu, struct err *err);
int onet__link_del(struct nl_sock *sk, const char *name);
/* veth host_name <-> peer_name; the peer is created inside peer_nsfd. */
int onet__veth_add(struct nl_sock *sk, const char *host_name, const char *peer_name, int peer_nsfd,
                   int mtu, const uint8_t mac[6], struct err *err);
/* Set master (ifindex > 0) and bring the link up. */
int onet__link_up(struct nl_sock *sk, const char *name, int master_ifindex, struct err *err);
int onet__addr_add(struct nl_sock *sk, const char *ifname, uint32_t ip, int prefix,
                   struct err *err);
int onet__route_default(struct nl_sock *sk, const char *ifname, uint32_t gw, struct err *err);
/* IPv4 routes of the namespace (destination prefixes, without default). */
int onet__routes(struct nl_sock *sk, struct onet_cidr **ret, size_t *ret_n);
/* Write a sysctl under /proc/sys/net (caller's namespace). */
int onet__sysctl(const char *path, const char *value);

/* ---- netns.c ------------------------------------------------------------ */

/* Make <dir> a shared bind mount (like /run/netns) so namespace files
 * propagate; idempotent. */
int onet__netns_dir_init(const char *dir, struct err *err);
void onet__netns_dir_fini(const char *dir);
/* New namespace bound at path, lo up; *ret_fd: O_RDONLY fd of it. */
int onet__netns_create(const char *path, int *ret_fd, struct err *err);
void onet__netns_delete(const char *path);

/* ---- nft.c -------------------------------------------------------------- */

struct onet_nft;
struct onet_nft *onet__nft_new(void);
struct onet_nft *onet__nft_free(struct onet_nft *x);
/* Run one transaction (nft syntax, several commands); err gets nft's text. */
int onet__nft_run(struct onet_nft *x, const char *cmds, struct err *err);

/* ---- dns.c -------------------------------------------------------------- */

struct onet_dns;
/* name -> address lookups for one container. Return true with *ret_ip. */
typedef bool (*onet_dns_lookup_fn)(void *arg, const char *ctr_id, const char *name,
                                   uint32_t *ret_ip);
struct onet_dns_cfg {
    uv_loop_t *loop;
    uint32_t upstream[ONET_MAX_DNS]; /* host byte order */
    uint16_t upstream_port[ONET_MAX_DNS];
    size_t n_upstream;
    onet_dns_lookup_fn lookup;
    void *arg;
};
/* Serve 127.0.0.11:53 (udp+tcp) in namespace nsfd for container ctr_id. */
int onet__dns_start(const struct onet_dns_cfg *cfg, int nsfd, const char *ctr_id,
                    struct onet_dns **ret, struct err *err);
/* Close the sockets (freed after the close callbacks). NULL is fine. */
void onet__dns_stop(struct onet_dns *d);

/* ---- ports.c ------------------------------------------------------------ */

struct onet_port {
    int proto;        /* IPPROTO_TCP / IPPROTO_UDP */
    uint32_t host_ip; /* 0: all */
    uint16_t host_port;
    uint16_t ctr_port;
    int fd; /* reservation socket bound to host_ip:host_port, or -1 */
};
/* Parse PortBindings (+ ExposedPorts when publish_all) into ports (ports
 * with host_port 0 get one when reserved). */
int onet__ports_parse(json_t *host_config, json_t *config, struct onet_port **ret, size_t *ret_n,
                      struct err *err);
/* Bind reservation sockets; on error none stays bound. */
int onet__ports_reserve(struct onet_port *p, size_t n, struct err *err);
void onet__ports_unreserve(struct onet_port *p, size_t n);

#endif
