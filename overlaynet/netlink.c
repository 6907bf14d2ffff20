/*
 * overlaynet/netlink.c - links, veth pairs, bridges, addresses and routes
 * over libnl-3 route, and running code inside another network namespace.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"

#include "overlaynet/internal.h"

struct ns_job {
    int nsfd;
    int (*fn)(void *arg);
    void *arg;
    int ret;
};

static void *ns_thread(void *p)
{
    struct ns_job *j = p;

    if (j->nsfd >= 0 && setns(j->nsfd, CLONE_NEWNET) < 0) {
        j->ret = -errno;
        return NULL;
    }
    /* The thread ends here, in the other namespace: nothing to switch back. */
    j->ret = j->fn(j->arg);
    return NULL;
}

int onet__in_netns(int nsfd, int (*fn)(void *arg), void *arg)
{
    struct ns_job j = {.nsfd = nsfd, .fn = fn, .arg = arg, .ret = 0};
    pthread_t t;
    int r;

    if ((r = pthread_create(&t, NULL, ns_thread, &j)) != 0)
        return -r;
    (void)pthread_join(t, NULL);
    return j.ret;
}

static int nlerr(int nle)
{
    switch (-nle) {
    case NLE_EXIST:
        return -EEXIST;
    case NLE_OBJ_NOTFOUND:
        return -ENOENT;
    case NLE_NODEV:
        return -ENODEV;
    case NLE_BUSY:
        return -EBUSY;
    case NLE_PERM:
        return -EPERM;
    case NLE_NOMEM:
        return -ENOMEM;
    case NLE_INVAL:
    case NLE_RANGE:
        return -EINVAL;
    default:
        return -EIO;
    }
}

struct open_job {
    struct nl_sock *sk;
    int r;
};

static int open_here(void *p)
{
    struct open_job *o = p;

    o->sk = nl_socket_alloc();
    if (!o->sk)
        return -ENOMEM;
    o->r = nl_connect(o->sk, NETLINK_ROUTE);
    if (o->r < 0) {
        nl_socket_free(o->sk);
        o->sk = NULL;
        return nlerr(o->r);
    }
    return 0;
}

int onet__nl_open(int nsfd, struct nl_sock **ret, struct err *err)
{
    struct open_job o = {0};
    int r = nsfd < 0 ? open_here(&o) : onet__in_netns(nsfd, open_here, &o);

    if (r < 0)
        return err_set(err, r, "netlink socket: %s", o.r ? nl_geterror(o.r) : strerror(-r));
    *ret = o.sk;
    return 0;
}

void onet__nl_close(struct nl_sock *sk)
{
    if (sk)
        nl_socket_free(sk);
}

int onet__link_ifindex(struct nl_sock *sk, const char *name)
{
    struct rtnl_link *l = NULL;
    int r = rtnl_link_get_kernel(sk, 0, name, &l);

    if (r < 0)
        return nlerr(r);
    r = rtnl_link_get_ifindex(l);
    rtnl_link_put(l);
    return r;
}

int onet__bridge_add(struct nl_sock *sk, const char *name, int mtu, struct err *err)
{
    struct rtnl_link *l = rtnl_link_bridge_alloc();
    int r;

    if (!l)
        return err_set(err, -ENOMEM, "out of memory");
    rtnl_link_set_name(l, name);
    if (mtu > 0)
        rtnl_link_set_mtu(l, (unsigned)mtu);
    r = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL);
    rtnl_link_put(l);
    if (r < 0 && r != -NLE_EXIST)
        return err_set(err, nlerr(r), "creating bridge %s: %s", name, nl_geterror(r));
    return 0;
}

int onet__link_del(struct nl_sock *sk, const char *name)
{
    struct rtnl_link *l = rtnl_link_alloc();
    int r;

    if (!l)
        return -ENOMEM;
    rtnl_link_set_name(l, name);
    r = rtnl_link_delete(sk, l);
    rtnl_link_put(l);
    return r < 0 ? nlerr(r) : 0;
}

int onet__veth_add(struct nl_sock *sk, const char *host_name, const char *peer_name, int peer_nsfd,
                   int mtu, const uint8_t mac[6], struct err *err)
{
    struct rtnl_link *veth = rtnl_link_veth_alloc();
    struct rtnl_link *peer;
    struct nl_addr *a = NULL;
    int r;

    if (!veth)
        return err_set(err, -ENOMEM, "out of memory");
    rtnl_link_set_name(veth, host_name);
    if (mtu > 0)
        rtnl_link_set_mtu(veth, (unsigned)mtu);
    peer = rtnl_link_veth_get_peer(veth);
    rtnl_link_set_name(peer, peer_name);
    if (mtu > 0)
        rtnl_link_set_mtu(peer, (unsigned)mtu);
    if (mac) {
        a = nl_addr_build(AF_LLC, mac, 6);
        if (a)
            rtnl_link_set_addr(peer, a);
    }
    if (peer_nsfd >= 0)
        rtnl_link_set_ns_fd(peer, peer_nsfd);
    rtnl_link_put(peer);
    r = rtnl_link_add(sk, veth, NLM_F_CREATE | NLM_F_EXCL);
    rtnl_link_put(veth);
    if (a)
        nl_addr_put(a);
    if (r < 0)
        return err_set(err, nlerr(r), "creating veth pair %s: %s", host_name, nl_geterror(r));
    return 0;
}

int onet__link_up(struct nl_sock *sk, const char *name, int master_ifindex, struct err *err)
{
    struct rtnl_link *orig = NULL, *chg;
    int r = rtnl_link_get_kernel(sk, 0, name, &orig);

    if (r < 0)
        return err_set(err, nlerr(r), "link %s: %s", name, nl_geterror(r));
    chg = rtnl_link_alloc();
    if (!chg) {
        rtnl_link_put(orig);
        return err_set(err, -ENOMEM, "out of memory");
    }
    if (master_ifindex > 0)
        rtnl_link_set_master(chg, master_ifindex);
    rtnl_link_set_flags(chg, IFF_UP);
    r = rtnl_link_change(sk, orig, chg, 0);
    rtnl_link_put(chg);
    rtnl_link_put(orig);
    if (r < 0)
        return err_set(err, nlerr(r), "setting up link %s: %s", name, nl_geterror(r));
    return 0;
}

static struct nl_addr *addr4(uint32_t ip, int prefix)
{
    uint32_t be = htonl(ip);
    struct nl_addr *a = nl_addr_build(AF_INET, &be, 4);

    if (a)
        nl_addr_set_prefixlen(a, prefix);
    return a;
}

int onet__addr_add(struct nl_sock *sk, const char *ifname, uint32_t ip, int prefix, struct err *err)
{
    int idx = onet__link_ifindex(sk, ifname);
    struct rtnl_addr *a;
    struct nl_addr *local;
    int r;

    if (idx < 0)
        return err_set(err, idx, "link %s: %s", ifname, strerror(-idx));
    a = rtnl_addr_alloc();
    local = addr4(ip, prefix);
    if (!a || !local) {
        if (a)
            rtnl_addr_put(a);
        if (local)
            nl_addr_put(local);
        return err_set(err, -ENOMEM, "out of memory");
    }
    rtnl_addr_set_ifindex(a, idx);
    rtnl_addr_set_local(a, local);
    if (prefix < 31) {
        struct nl_addr *bc = addr4(ip | ~onet__mask(prefix), 32);
        if (bc) {
            rtnl_addr_set_broadcast(a, bc);
            nl_addr_put(bc);
        }
    }
    r = rtnl_addr_add(sk, a, 0);
    rtnl_addr_put(a);
    nl_addr_put(local);
    if (r < 0 && r != -NLE_EXIST)
        return err_set(err, nlerr(r), "adding address to %s: %s", ifname, nl_geterror(r));
    return 0;
}

int onet__route_default(struct nl_sock *sk, const char *ifname, uint32_t gw, struct err *err)
{
    int idx = onet__link_ifindex(sk, ifname);
    struct rtnl_route *rt;
    struct rtnl_nexthop *nh;
    struct nl_addr *dst, *via;
    int r;

    if (idx < 0)
        return err_set(err, idx, "link %s: %s", ifname, strerror(-idx));
    rt = rtnl_route_alloc();
    nh = rtnl_route_nh_alloc();
    dst = addr4(0, 0);
    via = addr4(gw, 32);
    if (!rt || !nh || !dst || !via) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    rtnl_route_set_family(rt, AF_INET);
    rtnl_route_set_dst(rt, dst);
    rtnl_route_nh_set_gateway(nh, via);
    rtnl_route_nh_set_ifindex(nh, idx);
    rtnl_route_add_nexthop(rt, nh);
    nh = NULL;
    r = rtnl_route_add(sk, rt, NLM_F_CREATE | NLM_F_EXCL);
    if (r < 0)
        r = err_set(err, nlerr(r), "default route via %s: %s", ifname, nl_geterror(r));
out:
    if (nh)
        rtnl_route_nh_free(nh);
    if (rt)
        rtnl_route_put(rt);
    if (dst)
        nl_addr_put(dst);
    if (via)
        nl_addr_put(via);
    return r;
}

struct route_acc {
    struct onet_cidr *v;
    size_t n, cap;
};

static void route_each(struct nl_object *o, void *arg)
{
    struct rtnl_route *rt = (struct rtnl_route *)o;
    struct route_acc *acc = arg;
    struct nl_addr *d = rtnl_route_get_dst(rt);
    uint32_t be;

    if (rtnl_route_get_family(rt) != AF_INET || !d || nl_addr_get_prefixlen(d) == 0 ||
        rtnl_route_get_table(rt) != RT_TABLE_MAIN)
        return;
    if (acc->n == acc->cap) {
        size_t cap = acc->cap ? acc->cap * 2 : 16;
        struct onet_cidr *v = realloc(acc->v, cap * sizeof(*v));
        if (!v)
            return;
        acc->v = v;
        acc->cap = cap;
    }
    memcpy(&be, nl_addr_get_binary_addr(d), 4);
    acc->v[acc->n].addr = ntohl(be);
    acc->v[acc->n].prefix = (int)nl_addr_get_prefixlen(d);
    acc->n++;
}

int onet__routes(struct nl_sock *sk, struct onet_cidr **ret, size_t *ret_n)
{
    struct nl_cache *c = NULL;
    struct route_acc acc = {0};
    int r = rtnl_route_alloc_cache(sk, AF_INET, 0, &c);

    if (r < 0)
        return nlerr(r);
    nl_cache_foreach(c, route_each, &acc);
    nl_cache_free(c);
    *ret = acc.v;
    *ret_n = acc.n;
    return 0;
}

int onet__sysctl(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t w;
    int r = 0;

    if (fd < 0)
        return -errno;
    w = write(fd, value, strlen(value));
    if (w < 0)
        r = -errno;
    (void)close(fd);
    return r;
}
