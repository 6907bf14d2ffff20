/*
 * overlaynet/bridge.c - bridge networks (the default "bridge" on shoal0 and
 * user-defined ones), container attachment, the nftables rule set, and the
 * Engine API views of both.
 */
#define LOG_MODULE "onet"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/macros.h"
#include "lib/util.h"

#include "overlaynet/internal.h"
#include "overlaynet/overlaynet.h"

#define DEFAULT_NET_NAME "bridge"
#define DEFAULT_MTU      1500
#define MAX_NETWORKS     256
#define MAX_EPS          16

struct net {
    char id[65];
    char name[128];
    char bridge[16];
    struct onet_cidr subnet; /* host bits cleared */
    uint32_t gw;
    bool internal, is_default, attachable;
    json_t *labels;  /* object */
    json_t *options; /* object */
    int64_t created;
    int mtu;
    struct onet_pool pool;
    bool up; /* bridge created by us in this run (or found) */
    struct net *next;
};

struct ep {
    struct net *net;
    char ifname[16];  /* in the container: eth0, eth1 ... */
    char host_if[16]; /* veth end on the bridge */
    uint32_t ip;
    char endpoint_id[65];
    json_t *aliases; /* array of strings or NULL */
};

/* The host ends of a released container's veths, deleted on the thread pool:
 * RTM_DELLINK of a veth takes 10-30 ms in the kernel, which the loop would
 * otherwise spend blocked for every exiting container. The addresses go back
 * to their pools only once the links are gone (settle()), so a new container
 * never gets an address whose old veth still exists. */
struct gone_ep {
    struct net *net;
    uint32_t ip;
    char host_if[16];
    int r; /* of the deletion */
};

struct dellinks {
    uv_work_t req;
    struct onet *n; /* NULL once settled */
    struct dellinks *next;
    bool done;    /* the worker has finished (read and written under del_mu) */
    bool settled; /* addresses returned, off n->dels */
    size_t n_eps;
    struct gone_ep eps[MAX_EPS];
};

static pthread_mutex_t del_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t del_cv = PTHREAD_COND_INITIALIZER;

static void dels_flush(struct onet *n, const struct net *x);

struct sbox {
    char id[65];
    char name[256];
    char hostname[256];
    char path[PATH_MAX];
    bool own_ns; /* namespace created by us (bridge modes) */
    int nsfd;
    struct ep eps[MAX_EPS];
    size_t n_eps;
    struct onet_port *ports;
    size_t n_ports;
    struct onet_dns *dns;
    struct sbox *next;
};

struct onet {
    uv_loop_t *loop;
    char net_dir[2048];   /* <data>/network */
    char state_dir[2048]; /* <exec>/net */
    char ns_dir[2048];    /* <exec>/netns */
    char def_bridge[16];
    char table[64];
    char resolv_conf[PATH_MAX];
    struct onet_cidr bip;
    struct net *nets;
    struct sbox *sboxes;
    struct onet_nft *nft;
    struct nl_sock *nl;
    struct onet_dns_cfg dnscfg;
    json_t *pending; /* ctr id -> {net id -> EndpointConfig}: connects of stopped containers */
    struct dellinks *dels; /* veth deletions not settled yet */
    bool nft_installed;
    bool nft_fast_installed; /* the netdev table of nft_fast_sync() */
    bool no_fast_path;       /* --no-bridge-fast-path */
    bool ns_dir_ready;
};

/* ---- helpers ----------------------------------------------------------- */

static void mac_of(uint32_t ip, uint8_t mac[6])
{
    mac[0] = 0x02, mac[1] = 0x42;
    mac[2] = (uint8_t)(ip >> 24), mac[3] = (uint8_t)(ip >> 16), mac[4] = (uint8_t)(ip >> 8);
    mac[5] = (uint8_t)ip;
}

static void mac_fmt(uint32_t ip, char out[18])
{
    uint8_t m[6];

    mac_of(ip, m);
    (void)snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static struct net *net_by_id(struct onet *n, const char *id)
{
    for (struct net *x = n->nets; x; x = x->next)
        if (strcmp(x->id, id) == 0)
            return x;
    return NULL;
}

/* Docker's lookup order: full id, exact name, unique id prefix. */
static struct net *net_find(struct onet *n, const char *ref)
{
    struct net *hit = NULL;
    size_t l = strlen(ref);
    int count = 0;

    if (!l)
        return NULL;
    for (struct net *x = n->nets; x; x = x->next)
        if (strcmp(x->id, ref) == 0)
            return x;
    for (struct net *x = n->nets; x; x = x->next)
        if (strcmp(x->name, ref) == 0)
            return x;
    for (struct net *x = n->nets; x; x = x->next)
        if (strncmp(x->id, ref, l) == 0) {
            hit = x;
            count++;
        }
    return count == 1 ? hit : NULL;
}

static struct sbox *sbox_find(struct onet *n, const char *id)
{
    for (struct sbox *s = n->sboxes; s; s = s->next)
        if (strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

static size_t net_active(struct onet *n, const struct net *x)
{
    size_t c = 0;

    for (struct sbox *s = n->sboxes; s; s = s->next)
        for (size_t i = 0; i < s->n_eps; i++)
            c += s->eps[i].net == x;
    return c;
}

static bool is_predefined(const char *name)
{
    return strcmp(name, "bridge") == 0 || strcmp(name, "host") == 0 || strcmp(name, "none") == 0;
}

/* ---- persistence ------------------------------------------------------- */

static int net_save(struct onet *n, struct net *x)
{
    char path[PATH_MAX + 80], sub[19], gw[16];
    json_t *o;
    char *s;
    int r;

    onet__cidr_fmt(x->subnet, sub);
    onet__ip_fmt(x->gw, gw);
    o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:b, s:b, s:b, s:O, s:O, s:i}", "Id", x->id,
                  "Name", x->name, "Created", (json_int_t)x->created, "Subnet", sub, "Gateway", gw,
                  "Bridge", x->bridge, "Internal", x->internal, "Default", x->is_default,
                  "Attachable", x->attachable, "Labels", x->labels, "Options", x->options, "MTU",
                  x->mtu);
    if (!o)
        return -ENOMEM;
    s = json_dumps(o, JSON_SORT_KEYS);
    json_decref(o);
    if (!s)
        return -ENOMEM;
    (void)snprintf(path, sizeof(path), "%s/%s.json", n->net_dir, x->id);
    r = write_file_atomic(path, s, strlen(s), 0600, true);
    free(s);
    return r;
}

static struct net *net_new(void)
{
    struct net *x = calloc(1, sizeof(*x));

    if (!x)
        return NULL;
    x->labels = json_object();
    x->options = json_object();
    x->mtu = DEFAULT_MTU;
    return x;
}

static void net_free(struct net *x)
{
    if (!x)
        return;
    json_decref(x->labels);
    json_decref(x->options);
    onet__pool_release(&x->pool);
    free(x);
}

static int net_load(struct onet *n, const char *path)
{
    json_t *o = json_load_file(path, 0, NULL);
    struct net *x = net_new();
    int r = -EINVAL;

    if (!o || !x)
        goto out;
    const char *id = jstr(o, "Id"), *name = jstr(o, "Name"), *br = jstr(o, "Bridge");
    if (!id || strlen(id) != 64 || !name || !br || strlen(br) > 15 ||
        onet__cidr_parse(jstr(o, "Subnet"), &x->subnet) < 0 ||
        onet__ip_parse(jstr(o, "Gateway"), &x->gw) < 0)
        goto out;
    (void)snprintf(x->id, sizeof(x->id), "%s", id);
    (void)snprintf(x->name, sizeof(x->name), "%s", name);
    (void)snprintf(x->bridge, sizeof(x->bridge), "%s", br);
    x->created = json_integer_value(json_object_get(o, "Created"));
    x->internal = json_is_true(json_object_get(o, "Internal"));
    x->is_default = json_is_true(json_object_get(o, "Default"));
    x->attachable = json_is_true(json_object_get(o, "Attachable"));
    x->mtu = (int)json_integer_value(json_object_get(o, "MTU")) ?: DEFAULT_MTU;
    if (json_is_object(json_object_get(o, "Labels")))
        json_object_update(x->labels, json_object_get(o, "Labels"));
    if (json_is_object(json_object_get(o, "Options")))
        json_object_update(x->options, json_object_get(o, "Options"));
    if ((r = onet__pool_init(&x->pool, x->subnet)) < 0)
        goto out;
    (void)onet__pool_take(&x->pool, x->gw);
    x->next = n->nets;
    n->nets = x;
    x = NULL;
    r = 0;
out:
    if (r < 0)
        log_warn("ignoring bad network file %s", path);
    json_decref(o);
    net_free(x);
    return r;
}

static int sbox_save(struct onet *n, struct sbox *s)
{
    char path[PATH_MAX + 80], ip[16];
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:b, s:[], s:[]}", "Id", s->id, "Name", s->name, "Hostname",
                  s->hostname, "Path", s->path, "OwnNs", s->own_ns, "Endpoints", "Ports");
    char *txt;
    int r;

    if (!o)
        return -ENOMEM;
    for (size_t i = 0; i < s->n_eps; i++) {
        struct ep *e = &s->eps[i];
        onet__ip_fmt(e->ip, ip);
        json_array_append_new(json_object_get(o, "Endpoints"),
                              json_pack("{s:s, s:s, s:s, s:s, s:s, s:O?}", "Network", e->net->id,
                                        "IfName", e->ifname, "HostIf", e->host_if, "IP", ip,
                                        "EndpointID", e->endpoint_id, "Aliases", e->aliases));
    }
    for (size_t i = 0; i < s->n_ports; i++) {
        struct onet_port *p = &s->ports[i];
        onet__ip_fmt(p->host_ip, ip);
        json_array_append_new(json_object_get(o, "Ports"),
                              json_pack("{s:i, s:s, s:i, s:i}", "Proto", p->proto, "HostIp", ip,
                                        "HostPort", p->host_port, "CtrPort", p->ctr_port));
    }
    txt = json_dumps(o, JSON_SORT_KEYS);
    json_decref(o);
    if (!txt)
        return -ENOMEM;
    (void)snprintf(path, sizeof(path), "%s/%s.json", n->state_dir, s->id);
    r = write_file_atomic(path, txt, strlen(txt), 0600, false);
    free(txt);
    return r;
}

static int pending_save(struct onet *n)
{
    char path[PATH_MAX + 40];

    (void)snprintf(path, sizeof(path), "%s/containers.json", n->net_dir);
    if (json_object_size(n->pending) == 0) {
        (void)unlink(path);
        return 0;
    }
    char *s = json_dumps(n->pending, JSON_SORT_KEYS);
    if (!s)
        return -ENOMEM;
    int r = write_file_atomic(path, s, strlen(s), 0600, true);
    free(s);
    return r;
}

/* ---- nftables ---------------------------------------------------------- */

/* Rebuild our table in one transaction from the current state. */
/* <exec-root>/net/nft-table exists while our table may be installed, so a
 * daemon start knows whether a table left by a crash needs removing without
 * loading libnftables (which would cost ~2 MiB of RSS in an idle daemon). */
static void nft_marker(struct onet *n, bool on)
{
    char path[2200];

    (void)snprintf(path, sizeof(path), "%s/nft-table", n->state_dir);
    if (on)
        (void)write_file_atomic(path, "", 0, 0600, false);
    else
        (void)unlink(path);
}

static bool nft_marker_present(struct onet *n)
{
    char path[2200];

    (void)snprintf(path, sizeof(path), "%s/nft-table", n->state_dir);
    return access(path, F_OK) == 0;
}

/* The netdev table's text for the current state (just removing it when no
 * network has two members); check_links: leave out veths the kernel no
 * longer has (a netlink query each, so only after a failed attempt).
 * Returns whether it has chains. */
static bool fast_text(struct onet *n, bool any, bool check_links, struct buf *b)
{
    const char *t = n->table;
    char mac[18];
    unsigned idx = 0;
    bool chains = false;
    size_t removal;

    buf_truncate(b, 0);
    buf_printf(b, "add table netdev %s\ndelete table netdev %s\n", t, t);
    removal = b->len;
    if (!any)
        return false;
    buf_printf(b, "add table netdev %s\n", t);
    for (struct net *x = n->nets; x; x = x->next, idx++) {
        size_t members = 0;
        if (!x->up)
            continue;
        for (struct sbox *s = n->sboxes; s; s = s->next)
            for (size_t i = 0; i < s->n_eps; i++)
                members += s->eps[i].net == x;
        if (members < 2)
            continue;
        buf_printf(b, "add map netdev %s m%u { type ether_addr : iface_index; }\n", t, idx);
        for (struct sbox *s = n->sboxes; s; s = s->next)
            for (size_t i = 0; i < s->n_eps; i++) {
                struct ep *ep = &s->eps[i];
                if (ep->net != x || (check_links && onet__link_ifindex(n->nl, ep->host_if) < 0))
                    continue;
                mac_fmt(ep->ip, mac);
                buf_printf(b,
                           "add element netdev %s m%u { %s : \"%s\" }\n"
                           "add chain netdev %s i_%s { type filter hook ingress device "
                           "\"%s\" priority 0; }\n"
                           "add rule netdev %s i_%s fwd to ether daddr map @m%u\n",
                           t, idx, mac, ep->host_if, t, ep->host_if, ep->host_if, t, ep->host_if,
                           idx);
                chains = true;
            }
    }
    if (!chains)
        buf_truncate(b, removal); /* the removal alone */
    return chains;
}

/* Same-network traffic between containers skips the bridge. A frame that
 * enters the host end of a container's veth addressed to the MAC of another
 * container on the same network is sent straight out of that container's
 * veth by the netdev ingress hook ("fwd"), before the bridge sees it: no
 * bridge forwarding, and none of the host's br_netfilter passes (conntrack,
 * the nat and filter chains of every table) that a bridged frame costs when
 * net.bridge.bridge-nf-call-iptables is on. Everything else (broadcast, ARP
 * requests, the gateway, published ports, other networks) goes through the
 * bridge as before. Nothing is lost by the shortcut: frames between
 * containers of one network are never filtered or NATed by us, and replies
 * of DNATed (published-port) connections between them are routed through
 * the gateway by the hairpin masquerade (nft_sync). One map per network
 * (MAC -> host veth) so a crafted destination MAC cannot reach another
 * network. Its own transaction: when a veth vanished meanwhile it is built
 * again without it; when that fails too (a kernel without netdev tables or
 * fwd) the table is removed rather than left pointing at old devices, and
 * the bridge carries everything. */
static void nft_fast_sync(struct onet *n, bool any)
{
    struct buf b;
    struct err e = {0};
    bool chains;

    any = any && !n->no_fast_path;
    if (!any && !n->nft_fast_installed)
        return;
    buf_init(&b);
    chains = fast_text(n, any, false, &b);
    if (onet__nft_run(n->nft, b.data ?: "", &e) < 0 && chains) {
        /* a veth gone meanwhile? again without the missing ones */
        chains = fast_text(n, any, true, &b);
        if (onet__nft_run(n->nft, b.data ?: "", chains ? &e : NULL) < 0 && chains) {
            log_debug("container fast path not installed (%s): frames go through the bridge",
                      e.msg);
            chains = fast_text(n, false, false, &b);
            if (onet__nft_run(n->nft, b.data ?: "", NULL) < 0)
                chains = n->nft_fast_installed;
        }
    }
    n->nft_fast_installed = chains;
    buf_release(&b);
}

static int nft_sync(struct onet *n, struct err *err)
{
    struct buf b;
    bool any = false;
    char sub[19], ip[16], ip2[16];
    const char *t = n->table;
    int r;

    for (struct net *x = n->nets; x; x = x->next)
        any |= x->up;
    buf_init(&b);
    nft_fast_sync(n, any);
    if (!any && !n->nft_installed)
        return 0;
    buf_printf(&b, "add table ip %s\ndelete table ip %s\n", t, t);
    if (!any) {
        r = onet__nft_run(n->nft, b.data ?: "", err);
        buf_release(&b);
        if (r == 0) {
            n->nft_installed = false;
            nft_marker(n, false);
        }
        return r;
    }
    buf_printf(&b,
               "add table ip %s\n"
               "add chain ip %s prerouting { type nat hook prerouting priority dstnat; }\n"
               "add chain ip %s output { type nat hook output priority -100; }\n"
               "add chain ip %s postrouting { type nat hook postrouting priority srcnat; }\n"
               "add chain ip %s forward { type filter hook forward priority filter; }\n"
               "add chain ip %s ports\n"
               "add rule ip %s prerouting fib daddr type local jump ports\n"
               "add rule ip %s output fib daddr type local jump ports\n",
               t, t, t, t, t, t, t, t);
    /* published ports */
    for (struct sbox *s = n->sboxes; s; s = s->next) {
        if (!s->n_eps)
            continue;
        struct ep *e = &s->eps[0];
        onet__ip_fmt(e->ip, ip);
        for (size_t i = 0; i < s->n_ports; i++) {
            struct onet_port *p = &s->ports[i];
            const char *pr = p->proto == IPPROTO_UDP ? "udp" : "tcp";
            onet__ip_fmt(p->host_ip, ip2);
            buf_printf(&b, "add rule ip %s ports ", t);
            if (p->host_ip)
                buf_printf(&b, "ip daddr %s ", ip2);
            buf_printf(&b, "%s dport %u dnat to %s:%u\n", pr, p->host_port, ip, p->ctr_port);
        }
    }
    for (struct net *x = n->nets; x; x = x->next) {
        if (!x->up)
            continue;
        onet__cidr_fmt(x->subnet, sub);
        /* hairpin: a container reaching a published port of a container of
         * its own network (itself included) talks to the gateway's address,
         * so that the replies come back through the gateway to be un-DNATed
         * (docker-proxy gives the same view); without it they would go to
         * the client directly, by the bridge or the fast path, unchanged */
        buf_printf(&b,
                   "add rule ip %s postrouting oifname \"%s\" ip saddr %s ct status dnat "
                   "masquerade\n",
                   t, x->bridge, sub);
        /* DNAT of host-local traffic from 127.0.0.1 (route_localnet on the bridge) */
        buf_printf(&b,
                   "add rule ip %s postrouting oifname \"%s\" ip saddr 127.0.0.0/8 masquerade\n", t,
                   x->bridge);
        if (x->internal) {
            buf_printf(&b,
                       "add rule ip %s forward iifname \"%s\" oifname != \"%s\" drop\n"
                       "add rule ip %s forward oifname \"%s\" iifname != \"%s\" drop\n",
                       t, x->bridge, x->bridge, t, x->bridge, x->bridge);
            continue;
        }
        buf_printf(&b, "add rule ip %s postrouting ip saddr %s oifname != \"%s\" masquerade\n", t,
                   sub, x->bridge);
        /* isolation between our networks */
        for (struct net *y = n->nets; y; y = y->next)
            if (y != x && y->up)
                buf_printf(&b, "add rule ip %s forward iifname \"%s\" oifname \"%s\" drop\n", t,
                           x->bridge, y->bridge);
    }
    r = onet__nft_run(n->nft, b.data ?: "", err);
    buf_release(&b);
    if (r == 0) {
        n->nft_installed = true;
        nft_marker(n, true);
    }
    return r;
}

/* ---- bridges ----------------------------------------------------------- */

static int bridge_up(struct onet *n, struct net *x, struct err *err)
{
    char path[128];
    int r;

    /* An administrator (or another daemon) may have deleted it: make it again. */
    if (x->up && onet__link_ifindex(n->nl, x->bridge) >= 0)
        return 0;
    if (x->up)
        log_warn("bridge %s disappeared, creating it again", x->bridge);
    x->up = false;
    if ((r = onet__bridge_add(n->nl, x->bridge, x->mtu, err)) < 0)
        return r;
    if ((r = onet__addr_add(n->nl, x->bridge, x->gw, x->subnet.prefix, err)) < 0 ||
        (r = onet__link_up(n->nl, x->bridge, 0, err)) < 0) {
        (void)onet__link_del(n->nl, x->bridge);
        return r;
    }
    (void)snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/route_localnet", x->bridge);
    if (onet__sysctl(path, "1") < 0)
        log_warn("cannot set %s, ignoring", path);
    if (!x->internal && onet__sysctl("/proc/sys/net/ipv4/ip_forward", "1") < 0)
        log_warn("cannot enable ip_forward, ignoring");
    x->up = true;
    return 0;
}

static void bridge_down(struct onet *n, struct net *x)
{
    if (!x->up)
        return;
    (void)onet__link_del(n->nl, x->bridge);
    x->up = false;
}

/* ---- open / close ------------------------------------------------------ */

static void sbox_free(struct sbox *s)
{
    if (!s)
        return;
    onet__dns_stop(s->dns);
    onet__ports_unreserve(s->ports, s->n_ports);
    free(s->ports);
    for (size_t i = 0; i < s->n_eps; i++)
        json_decref(s->eps[i].aliases);
    if (s->nsfd >= 0)
        (void)close(s->nsfd);
    free(s);
}

static bool dns_lookup(void *arg, const char *ctr_id, const char *name, uint32_t *ret_ip);

static int dns_start(struct onet *n, struct sbox *s, struct err *err)
{
    if (s->dns || !s->n_eps)
        return 0;
    return onet__dns_start(&n->dnscfg, s->nsfd, s->id, &s->dns, err);
}

static void load_upstreams(struct onet *n, const struct onet_opts *o)
{
    struct onet_dns_cfg *c = &n->dnscfg;
    char *txt = NULL, *save = NULL;

    for (size_t i = 0; i < o->n_dns && c->n_upstream < ONET_MAX_DNS; i++)
        if (onet__ip_parse(o->dns[i], &c->upstream[c->n_upstream]) == 0)
            c->upstream_port[c->n_upstream++] = 53;
    if (c->n_upstream || read_file(n->resolv_conf, &txt, NULL, 64 * 1024) < 0)
        return;
    for (char *line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char ip[64];
        if (sscanf(line, " nameserver %63s", ip) == 1 && c->n_upstream < ONET_MAX_DNS &&
            onet__ip_parse(ip, &c->upstream[c->n_upstream]) == 0)
            c->upstream_port[c->n_upstream++] = 53;
    }
    free(txt);
}

static int default_net(struct onet *n, const struct onet_opts *o, struct err *err)
{
    struct net *x = NULL;
    char id[ID_HEX_LEN + 1];
    int r;

    for (struct net *y = n->nets; y; y = y->next)
        if (y->is_default)
            x = y;
    if (x) {
        struct onet_cidr sub = {n->bip.addr & onet__mask(n->bip.prefix), n->bip.prefix};
        bool same = x->gw == n->bip.addr && x->subnet.addr == sub.addr &&
                    x->subnet.prefix == sub.prefix && strcmp(x->bridge, n->def_bridge) == 0;
        if (same)
            return 0;
        if (net_active(n, x))
            return err_set(err, -EBUSY, "--bip changed while containers use the default network");
        onet__pool_release(&x->pool);
    } else {
        if (!(x = net_new()))
            return err_set(err, -ENOMEM, "out of memory");
        if ((r = id_new_hex(id)) < 0) {
            net_free(x);
            return err_set(err, r, "random id");
        }
        (void)snprintf(x->id, sizeof(x->id), "%s", id);
        (void)snprintf(x->name, sizeof(x->name), DEFAULT_NET_NAME);
        x->is_default = true;
        x->created = time_now_ns();
        x->next = n->nets;
        n->nets = x;
    }
    (void)o;
    x->subnet.prefix = n->bip.prefix;
    x->subnet.addr = n->bip.addr & onet__mask(n->bip.prefix);
    x->gw = n->bip.addr;
    (void)snprintf(x->bridge, sizeof(x->bridge), "%s", n->def_bridge);
    json_object_clear(x->options);
    json_object_set_new(x->options, "com.docker.network.bridge.default_bridge",
                        json_string("true"));
    json_object_set_new(x->options, "com.docker.network.bridge.enable_icc", json_string("true"));
    json_object_set_new(x->options, "com.docker.network.bridge.enable_ip_masquerade",
                        json_string("true"));
    json_object_set_new(x->options, "com.docker.network.bridge.host_binding_ipv4",
                        json_string("0.0.0.0"));
    json_object_set_new(x->options, "com.docker.network.bridge.name", json_string(x->bridge));
    json_object_set_new(x->options, "com.docker.network.driver.mtu", json_string("1500"));
    if ((r = onet__pool_init(&x->pool, x->subnet)) < 0)
        return err_set(err, r, "invalid --bip %s/%d", "subnet", x->subnet.prefix);
    (void)onet__pool_take(&x->pool, x->gw);
    if ((r = net_save(n, x)) < 0)
        return err_set(err, r, "saving network: %s", strerror(-r));
    return 0;
}

static struct net *net_of_id(struct onet *n, const char *id)
{
    return id ? net_by_id(n, id) : NULL;
}

/* Restore one attached container after a restart. */
static void sbox_restore(struct onet *n, const char *file)
{
    json_t *o = json_load_file(file, 0, NULL);
    struct sbox *s = calloc(1, sizeof(*s));
    struct err err = {0};
    size_t i;
    json_t *v;

    if (!o || !s || !jstr(o, "Id") || !jstr(o, "Path"))
        goto bad;
    s->nsfd = -1;
    (void)snprintf(s->id, sizeof(s->id), "%s", jstr(o, "Id"));
    (void)snprintf(s->name, sizeof(s->name), "%s", jstr(o, "Name") ?: "");
    (void)snprintf(s->hostname, sizeof(s->hostname), "%s", jstr(o, "Hostname") ?: "");
    (void)snprintf(s->path, sizeof(s->path), "%s", jstr(o, "Path"));
    s->own_ns = json_is_true(json_object_get(o, "OwnNs"));
    s->nsfd = open(s->path, O_RDONLY | O_CLOEXEC);
    if (s->nsfd < 0)
        goto bad;
    json_array_foreach(json_object_get(o, "Endpoints"), i, v)
    {
        struct ep *e;
        struct net *x = net_of_id(n, jstr(v, "Network"));
        if (!x || s->n_eps == MAX_EPS || !jstr(v, "IfName") || !jstr(v, "HostIf"))
            continue;
        e = &s->eps[s->n_eps];
        if (onet__ip_parse(jstr(v, "IP"), &e->ip) < 0 || onet__pool_take(&x->pool, e->ip) < 0)
            continue;
        e->net = x;
        (void)snprintf(e->ifname, sizeof(e->ifname), "%s", jstr(v, "IfName"));
        (void)snprintf(e->host_if, sizeof(e->host_if), "%s", jstr(v, "HostIf"));
        (void)snprintf(e->endpoint_id, sizeof(e->endpoint_id), "%s", jstr(v, "EndpointID") ?: "");
        e->aliases = json_incref(json_object_get(v, "Aliases"));
        s->n_eps++;
        if (!x->up && bridge_up(n, x, &err) < 0) /* gone since the last run */
            log_warn("restoring bridge %s: %s", x->bridge, err.msg);
    }
    json_array_foreach(json_object_get(o, "Ports"), i, v)
    {
        struct onet_port p = {.fd = -1};
        struct onet_port *np = realloc(s->ports, (s->n_ports + 1) * sizeof(*np));
        if (!np)
            break;
        s->ports = np;
        p.proto = (int)json_integer_value(json_object_get(v, "Proto"));
        (void)onet__ip_parse(jstr(v, "HostIp"), &p.host_ip);
        p.host_port = (uint16_t)json_integer_value(json_object_get(v, "HostPort"));
        p.ctr_port = (uint16_t)json_integer_value(json_object_get(v, "CtrPort"));
        s->ports[s->n_ports++] = p;
    }
    if (onet__ports_reserve(s->ports, s->n_ports, &err) < 0)
        log_warn("container %.12s: re-reserving published ports: %s", s->id, err.msg);
    if (s->own_ns && dns_start(n, s, &err) < 0)
        log_warn("container %.12s: %s", s->id, err.msg);
    s->next = n->sboxes;
    n->sboxes = s;
    json_decref(o);
    return;
bad:
    log_warn("dropping stale network state %s", file);
    if (s && s->own_ns)
        onet__netns_delete(s->path);
    sbox_free(s);
    json_decref(o);
    (void)unlink(file);
}

static void load_dir(struct onet *n, const char *dir, bool networks)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[PATH_MAX + 300];

    if (!d)
        return;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l != 64 + 5 || strcmp(de->d_name + 64, ".json") != 0)
            continue;
        (void)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (networks)
            (void)net_load(n, path);
        else
            sbox_restore(n, path);
    }
    closedir(d);
}

int onet_open(const struct onet_opts *o, struct onet **ret, struct err *err)
{
    struct onet *n = calloc(1, sizeof(*n));
    char path[PATH_MAX + 40];
    int r;

    if (!n)
        return err_set(err, -ENOMEM, "out of memory");
    n->loop = o->loop;
    (void)snprintf(n->net_dir, sizeof(n->net_dir), "%s/network", o->data_root);
    (void)snprintf(n->state_dir, sizeof(n->state_dir), "%s/net", o->exec_root);
    (void)snprintf(n->ns_dir, sizeof(n->ns_dir), "%s/netns", o->exec_root);
    (void)snprintf(n->def_bridge, sizeof(n->def_bridge), "%s", o->bridge_name ?: "shoal0");
    (void)snprintf(n->table, sizeof(n->table), "%s", o->nft_table ?: "shoal");
    n->no_fast_path = o->no_fast_path;
    (void)snprintf(n->resolv_conf, sizeof(n->resolv_conf), "%s",
                   o->resolv_conf ?: "/etc/resolv.conf");
    n->dnscfg.loop = o->loop;
    n->dnscfg.lookup = dns_lookup;
    n->dnscfg.arg = n;
    load_upstreams(n, o);
    if (onet__cidr_parse(o->bip ?: "172.18.0.1/16", &n->bip) < 0 || n->bip.prefix < 8 ||
        n->bip.prefix > 30 || (n->bip.addr & ~onet__mask(n->bip.prefix)) == 0) {
        r = err_set(err, -EINVAL,
                    "invalid --bip '%s': want an address with prefix, e.g. "
                    "172.18.0.1/16",
                    o->bip);
        free(n);
        return r;
    }
    if ((r = mkdir_p(n->net_dir, 0700)) < 0 || (r = mkdir_p(n->state_dir, 0700)) < 0) {
        err_set(err, r, "creating network state directories: %s", strerror(-r));
        goto fail;
    }
    if (!(n->nft = onet__nft_new())) {
        r = err_set(err, -EIO, "nftables context");
        goto fail;
    }
    if ((r = onet__nl_open(-1, &n->nl, err)) < 0)
        goto fail;
    n->pending = NULL;
    (void)snprintf(path, sizeof(path), "%s/containers.json", n->net_dir);
    n->pending = json_load_file(path, 0, NULL);
    if (!json_is_object(n->pending)) {
        json_decref(n->pending);
        n->pending = json_object();
    }
    load_dir(n, n->net_dir, true);
    if ((r = default_net(n, o, err)) < 0)
        goto fail;
    /* bridges a previous run left in place (it stopped while containers
     * were attached, so it removed none) are ours to remove when their
     * network goes, also those no container uses any more */
    for (struct net *x = n->nets; x; x = x->next)
        if (!x->up && onet__link_ifindex(n->nl, x->bridge) > 0)
            x->up = true;
    load_dir(n, n->state_dir, false);
    if (n->sboxes) {
        if ((r = onet__netns_dir_init(n->ns_dir, err)) < 0)
            goto fail;
        n->ns_dir_ready = true;
    }
    /* a table left by a crash is replaced (or removed when nothing is attached) */
    n->nft_installed = nft_marker_present(n) || n->sboxes;
    n->nft_fast_installed = n->nft_installed;
    if ((r = nft_sync(n, err)) < 0)
        goto fail;
    *ret = n;
    return 0;
fail:
    onet_close(n);
    return r;
}

size_t onet_attached_count(struct onet *n)
{
    size_t c = 0;

    for (struct sbox *s = n->sboxes; s; s = s->next)
        c++;
    return c;
}

void onet_close(struct onet *n)
{
    bool idle;

    if (!n)
        return;
    dels_flush(n, NULL); /* nothing may be left behind */
    idle = n->sboxes == NULL;
    while (n->sboxes) {
        struct sbox *s = n->sboxes;
        n->sboxes = s->next;
        sbox_free(s);
    }
    if (idle) {
        for (struct net *x = n->nets; x; x = x->next)
            if (n->nl)
                bridge_down(n, x);
        if (n->nft)
            (void)nft_sync(n, NULL);
        if (n->ns_dir_ready || access(n->ns_dir, F_OK) == 0)
            onet__netns_dir_fini(n->ns_dir);
    }
    while (n->nets) {
        struct net *x = n->nets;
        n->nets = x->next;
        net_free(x);
    }
    onet__nl_close(n->nl);
    onet__nft_free(n->nft);
    json_decref(n->pending);
    free(n);
}

/* ---- networks ---------------------------------------------------------- */

static bool subnet_free(struct onet *n, struct onet_cidr c, const struct onet_cidr *routes,
                        size_t n_routes)
{
    for (struct net *x = n->nets; x; x = x->next)
        if (onet__cidr_overlap(x->subnet, c))
            return false;
    for (size_t i = 0; i < n_routes; i++)
        if (onet__cidr_overlap(routes[i], c))
            return false;
    return true;
}

static int pick_subnet(struct onet *n, struct onet_cidr *ret, struct err *err)
{
    struct onet_cidr *routes = NULL;
    size_t n_routes = 0;

    (void)onet__routes(n->nl, &routes, &n_routes);
    for (unsigned i = 0; i < 13 + 16; i++) {
        struct onet_cidr c;
        if (i < 13)
            c = (struct onet_cidr){(172u << 24) | ((19u + i) << 16), 16};
        else
            c = (struct onet_cidr){(192u << 24) | (168u << 16) | ((i - 13) * 16u << 8), 20};
        if (subnet_free(n, c, routes, n_routes)) {
            free(routes);
            *ret = c;
            return 0;
        }
    }
    free(routes);
    return err_set(err, -ENOSPC,
                   "could not find an available, non-overlapping IPv4 address pool among the "
                   "defaults to assign to the network");
}

int onet_network_create(struct onet *n, json_t *body, char ret_id[65], struct err *err)
{
    const char *name = jstr(body, "Name"), *driver = jstr(body, "Driver");
    json_t *ipam = json_object_get(json_object_get(body, "IPAM"), "Config");
    json_t *opts = json_object_get(body, "Options"), *labels = json_object_get(body, "Labels");
    struct net *x;
    size_t count = 0;
    char id[ID_HEX_LEN + 1];
    int r;

    if (!json_is_object(body))
        return err_set(err, -EINVAL, "invalid JSON body");
    if (!name || !*name)
        return err_set(err, -EINVAL, "network name is required");
    if (strlen(name) >= sizeof(x->name) || strpbrk(name, "/ \t\n:"))
        return err_set(err, -EINVAL, "invalid network name '%s'", name);
    for (x = n->nets; x; x = x->next)
        count++;
    if (is_predefined(name) || net_find(n, name))
        return err_set(err, -EEXIST, "network with name %s already exists", name);
    if (count >= MAX_NETWORKS)
        return err_set(err, -ENOSPC, "too many networks (at most %d)", MAX_NETWORKS);
    if (driver && *driver && strcmp(driver, "bridge") != 0) {
        if (strcmp(driver, "overlay") == 0)
            return err_set(err, -EINVAL,
                           "overlay networks need swarm mode: this node is not a swarm manager");
        return err_set(err, -ENOENT, "plugin \"%s\" not found", driver);
    }
    if (json_is_true(json_object_get(body, "EnableIPv6")))
        return err_set(err, -EINVAL, "IPv6 networks are not supported");
    if (json_array_size(ipam) > 1)
        return err_set(err, -EINVAL, "only one IPv4 subnet per network is supported");
    if (labels && !json_is_null(labels) && !json_is_object(labels))
        return err_set(err, -EINVAL, "invalid Labels");
    if (opts && !json_is_null(opts) && !json_is_object(opts))
        return err_set(err, -EINVAL, "invalid Options");

    json_t *cfg = json_array_get(ipam, 0);
    const char *subnet = jstr(cfg, "Subnet"), *gw = jstr(cfg, "Gateway");
    struct onet_cidr sub;
    uint32_t gwip = 0;
    if (jstr(cfg, "IPRange") && *jstr(cfg, "IPRange"))
        return err_set(err, -EINVAL, "--ip-range is not supported");
    if (subnet && *subnet) {
        if (onet__cidr_parse(subnet, &sub) < 0)
            return err_set(err, -EINVAL, "invalid CIDR address: %s", subnet);
        if (sub.prefix < 8 || sub.prefix > 30)
            return err_set(err, -EINVAL, "invalid subnet %s: the prefix length must be 8 to 30",
                           subnet);
        sub.addr &= onet__mask(sub.prefix);
        struct onet_cidr *routes = NULL;
        size_t n_routes = 0;
        for (x = n->nets; x; x = x->next)
            if (onet__cidr_overlap(x->subnet, sub))
                return err_set(err, -EINVAL,
                               "Pool overlaps with other one on this address space (network "
                               "%s)",
                               x->name);
        (void)onet__routes(n->nl, &routes, &n_routes);
        for (size_t i = 0; i < n_routes; i++)
            if (onet__cidr_overlap(routes[i], sub)) {
                char rs[19];
                onet__cidr_fmt(routes[i], rs);
                free(routes);
                return err_set(err, -EINVAL,
                               "Pool overlaps with other one on this address space (host route "
                               "%s)",
                               rs);
            }
        free(routes);
    } else {
        if (gw && *gw)
            return err_set(err, -EINVAL, "a gateway needs a subnet (--subnet)");
        if ((r = pick_subnet(n, &sub, err)) < 0)
            return r;
    }
    if (gw && *gw) {
        if (onet__ip_parse(gw, &gwip) < 0)
            return err_set(err, -EINVAL, "invalid gateway address %s", gw);
        if (!onet__cidr_contains(sub, gwip) || gwip == sub.addr ||
            gwip == (sub.addr | ~onet__mask(sub.prefix)))
            return err_set(err, -EINVAL, "gateway %s is not a host address of subnet %s", gw,
                           subnet);
    } else {
        gwip = sub.addr + 1;
    }
    if (!(x = net_new()))
        return err_set(err, -ENOMEM, "out of memory");
    if ((r = id_new_hex(id)) < 0) {
        net_free(x);
        return err_set(err, r, "random id");
    }
    (void)snprintf(x->id, sizeof(x->id), "%s", id);
    (void)snprintf(x->name, sizeof(x->name), "%s", name);
    (void)snprintf(x->bridge, sizeof(x->bridge), "br-%.12s", id);
    x->subnet = sub;
    x->gw = gwip;
    x->internal = json_is_true(json_object_get(body, "Internal"));
    x->attachable = json_is_true(json_object_get(body, "Attachable"));
    x->created = time_now_ns();
    if (json_is_object(labels))
        json_object_update(x->labels, labels);
    if (json_is_object(opts)) {
        const char *k;
        json_t *v;
        json_object_foreach(opts, k, v)
        {
            if (!json_is_string(v)) {
                net_free(x);
                return err_set(err, -EINVAL, "option %s: want a string", k);
            }
            if (strcmp(k, "com.docker.network.driver.mtu") == 0) {
                uint64_t mtu;
                if (parse_u64(json_string_value(v), &mtu) < 0 || mtu < 68 || mtu > 65535) {
                    net_free(x);
                    return err_set(err, -EINVAL, "invalid MTU '%s'", json_string_value(v));
                }
                x->mtu = (int)mtu;
            } else if (strcmp(k, "com.docker.network.bridge.name") == 0) {
                const char *bn = json_string_value(v);
                if (!*bn || strlen(bn) > 15 || strpbrk(bn, "/ :")) {
                    net_free(x);
                    return err_set(err, -EINVAL, "invalid bridge name '%s'", bn);
                }
                for (struct net *y = n->nets; y; y = y->next)
                    if (strcmp(y->bridge, bn) == 0) {
                        net_free(x);
                        return err_set(err, -EEXIST, "bridge name %s is in use", bn);
                    }
                (void)snprintf(x->bridge, sizeof(x->bridge), "%s", bn);
            }
        }
        json_object_update(x->options, opts);
    }
    if ((r = onet__pool_init(&x->pool, x->subnet)) < 0) {
        net_free(x);
        return err_set(err, r, "address pool");
    }
    (void)onet__pool_take(&x->pool, x->gw);
    if ((r = net_save(n, x)) < 0) {
        net_free(x);
        return err_set(err, r, "saving network: %s", strerror(-r));
    }
    x->next = n->nets;
    n->nets = x;
    memcpy(ret_id, x->id, 65);
    log_info("network %s created (%s)", x->name, x->bridge);
    return 0;
}

static json_t *pseudo_json(const char *name, const char *driver)
{
    /* stable ids derived from the name, so scripts can use them */
    char id[65];
    size_t l = strlen(name);

    for (size_t i = 0; i < 64; i++)
        id[i] = "0123456789abcdef"[(unsigned char)(name[i % l] + i * 7) & 15];
    id[64] = '\0';
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:{s:s, s:n, s:[]}, s:b, s:b, s:b, s:{s:s}, "
                     "s:b, s:{}, s:{}, s:{}}",
                     "Name", name, "Id", id, "Created", "0001-01-01T00:00:00Z", "Scope", "local",
                     "Driver", driver, "EnableIPv6", 0, "IPAM", "Driver", "default", "Options",
                     "Config", "Internal", 0, "Attachable", 0, "Ingress", 0, "ConfigFrom",
                     "Network", "", "ConfigOnly", 0, "Containers", "Options", "Labels");
}

static json_t *net_json(struct onet *n, struct net *x)
{
    char created[40], sub[19], gw[16], ip[16];
    json_t *ctrs = json_object();

    time_fmt_rfc3339(x->created, created);
    onet__cidr_fmt(x->subnet, sub);
    onet__ip_fmt(x->gw, gw);
    for (struct sbox *s = n->sboxes; s; s = s->next)
        for (size_t i = 0; i < s->n_eps; i++) {
            struct ep *e = &s->eps[i];
            char mac[18], cidr[24];
            if (e->net != x)
                continue;
            onet__ip_fmt(e->ip, ip);
            mac_fmt(e->ip, mac);
            (void)snprintf(cidr, sizeof(cidr), "%s/%d", ip, x->subnet.prefix);
            json_object_set_new(ctrs, s->id,
                                json_pack("{s:s, s:s, s:s, s:s, s:s}", "Name", s->name,
                                          "EndpointID", e->endpoint_id, "MacAddress", mac,
                                          "IPv4Address", cidr, "IPv6Address", ""));
        }
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:{s:s, s:o, s:[{s:s, s:s}]}, s:b, s:b, "
                     "s:b, s:{s:s}, s:b, s:o, s:O, s:O}",
                     "Name", x->name, "Id", x->id, "Created", created, "Scope", "local", "Driver",
                     "bridge", "EnableIPv6", 0, "IPAM", "Driver", "default", "Options",
                     x->is_default ? json_null() : json_object(), "Config", "Subnet", sub,
                     "Gateway", gw, "Internal", x->internal, "Attachable", x->attachable, "Ingress",
                     0, "ConfigFrom", "Network", "", "ConfigOnly", 0, "Containers", ctrs, "Options",
                     x->options, "Labels", x->labels);
}

int onet_network_inspect(struct onet *n, const char *ref, json_t **ret, struct err *err)
{
    struct net *x = net_find(n, ref);

    if (!x && (strcmp(ref, "host") == 0 || strcmp(ref, "none") == 0)) {
        *ret = pseudo_json(ref, ref[0] == 'h' ? "host" : "null");
        return 0;
    }
    if (!x)
        return err_set(err, -ENOENT, "network %s not found", ref);
    *ret = net_json(n, x);
    return *ret ? 0 : err_set(err, -ENOMEM, "out of memory");
}

bool onet_network_filter_match(json_t *filters, json_t *net, bool builtin)
{
    const char *key;
    json_t *vals;

    json_object_foreach(filters, key, vals)
    {
        size_t i;
        json_t *v;
        bool any = false;
        json_array_foreach(vals, i, v)
        {
            const char *want = json_string_value(v);
            if (!want)
                continue;
            if (strcmp(key, "name") == 0)
                any |= strstr(jstr(net, "Name"), want) != NULL;
            else if (strcmp(key, "id") == 0)
                any |= strncmp(jstr(net, "Id"), want, strlen(want)) == 0;
            else if (strcmp(key, "driver") == 0)
                any |= strcmp(jstr(net, "Driver"), want) == 0;
            else if (strcmp(key, "scope") == 0)
                any |= strcmp(jstr(net, "Scope"), want) == 0;
            else if (strcmp(key, "type") == 0)
                any |= (strcmp(want, "builtin") == 0) == builtin;
            else if (strcmp(key, "label") == 0) {
                json_t *labels = json_object_get(net, "Labels");
                const char *eq = strchr(want, '=');
                if (!eq) {
                    any |= json_object_get(labels, want) != NULL;
                } else {
                    const char *have =
                        json_string_value(json_object_getn(labels, want, (size_t)(eq - want)));
                    any |= have && strcmp(have, eq + 1) == 0;
                }
            } else {
                any = true; /* unknown keys are refused by the API layer */
            }
        }
        if (!any)
            return false;
    }
    return true;
}

static bool filter_ok(json_t *filters, json_t *net)
{
    return onet_network_filter_match(filters, net, is_predefined(jstr(net, "Name")));
}

json_t *onet_network_list(struct onet *n, json_t *filters)
{
    json_t *arr = json_array();
    json_t *v;

    for (struct net *x = n->nets; x; x = x->next) {
        v = net_json(n, x);
        if (v && (!filters || filter_ok(filters, v)))
            json_array_append(arr, v);
        json_decref(v);
    }
    for (int i = 0; i < 2; i++) {
        v = pseudo_json(i ? "none" : "host", i ? "null" : "host");
        if (v && (!filters || filter_ok(filters, v)))
            json_array_append(arr, v);
        json_decref(v);
    }
    return arr;
}

static int net_remove(struct onet *n, struct net *x, struct err *err)
{
    char path[PATH_MAX + 80];
    struct net **pp;

    if (x->is_default)
        return err_set(err, -EPERM, "bridge is a pre-defined network and cannot be removed");
    if (net_active(n, x))
        return err_set(err, -EBUSY,
                       "error while removing network: network %s id %s has active endpoints",
                       x->name, x->id);
    (void)snprintf(path, sizeof(path), "%s/%s.json", n->net_dir, x->id);
    if (unlink(path) < 0 && errno != ENOENT)
        return err_set(err, -errno, "removing %s: %s", path, strerror(errno));
    dels_flush(n, x); /* before the pool goes */
    bridge_down(n, x);
    for (pp = &n->nets; *pp; pp = &(*pp)->next)
        if (*pp == x) {
            *pp = x->next;
            break;
        }
    /* drop pending connects to it */
    const char *cid;
    json_t *m;
    json_object_foreach(n->pending, cid, m)
    {
        json_object_del(m, x->id);
    }
    (void)pending_save(n);
    log_info("network %s removed", x->name);
    net_free(x);
    (void)nft_sync(n, NULL);
    return 0;
}

int onet_network_remove(struct onet *n, const char *ref, struct err *err)
{
    struct net *x = net_find(n, ref);

    if (!x) {
        if (strcmp(ref, "host") == 0 || strcmp(ref, "none") == 0)
            return err_set(err, -EPERM, "%s is a pre-defined network and cannot be removed", ref);
        return err_set(err, -ENOENT, "network %s not found", ref);
    }
    return net_remove(n, x, err);
}

int onet_network_prune(struct onet *n, json_t *filters, json_t **ret_deleted, struct err *err)
{
    json_t *del = json_array();
    struct net *x, *next;

    for (x = n->nets; x; x = next) {
        next = x->next;
        if (x->is_default || net_active(n, x))
            continue;
        json_t *v = net_json(n, x);
        bool ok = !filters || filter_ok(filters, v);
        json_decref(v);
        if (!ok)
            continue;
        char name[128];
        (void)snprintf(name, sizeof(name), "%s", x->name);
        if (net_remove(n, x, err) == 0)
            json_array_append_new(del, json_string(name));
    }
    *ret_deleted = del;
    return 0;
}

/* ---- containers -------------------------------------------------------- */

/* The network of NetworkMode: NULL for host/none/container:. */
static int mode_net(struct onet *n, const char *mode, struct net **ret, struct err *err)
{
    *ret = NULL;
    if (!mode || !*mode || strcmp(mode, "default") == 0 || strcmp(mode, "bridge") == 0) {
        for (struct net *x = n->nets; x; x = x->next)
            if (x->is_default)
                *ret = x;
        return 0;
    }
    if (strcmp(mode, "host") == 0 || strcmp(mode, "none") == 0)
        return 0;
    if (strncmp(mode, "container:", 10) == 0) {
        if (!mode[10])
            return err_set(err, -EINVAL, "invalid network mode '%s'", mode);
        return 0;
    }
    if (!(*ret = net_find(n, mode)))
        return err_set(err, -ENOENT, "network %s not found", mode);
    return 0;
}

int onet_validate(struct onet *n, json_t *config, json_t *host_config, json_t *networking,
                  struct err *err)
{
    const char *mode = jstr(host_config, "NetworkMode");
    struct onet_port *ports = NULL;
    size_t n_ports = 0;
    struct net *x;
    const char *k;
    json_t *v;
    int r;

    if ((r = mode_net(n, mode, &x, err)) < 0)
        return r;
    if ((r = onet__ports_parse(host_config, config, &ports, &n_ports, err)) < 0)
        return r;
    free(ports);
    if (!x && n_ports && mode && strncmp(mode, "container:", 10) == 0)
        return err_set(err, -EINVAL,
                       "conflicting options: port publishing and the container "
                       "type network mode");
    json_object_foreach(json_object_get(networking, "EndpointsConfig"), k, v)
    {
        struct net *y;
        json_t *al = json_object_get(v, "Aliases");
        /* the CLI names the endpoint after NetworkMode, "default" included */
        if (strcmp(k, "default") == 0 ||
            (is_predefined(k) && !(x && x->is_default && strcmp(k, "bridge") == 0)))
            continue;
        if (!(y = net_find(n, k)))
            return err_set(err, -ENOENT, "network %s not found", k);
        if (json_array_size(al) && y->is_default)
            return err_set(err, -EINVAL,
                           "network-scoped alias is supported only for containers in user "
                           "defined networks");
    }
    return 0;
}

static void hex7(char out[8])
{
    char id[ID_HEX_LEN + 1];

    if (id_new_hex(id) < 0)
        (void)snprintf(id, sizeof(id), "%016lx", (unsigned long)random());
    memcpy(out, id, 7);
    out[7] = '\0';
}

/* Attach sandbox s to network x: veth, address, route (first), state. */
static int ep_add(struct onet *n, struct sbox *s, struct net *x, json_t *aliases, struct err *err)
{
    struct nl_sock *ns_sk = NULL;
    struct ep *e;
    char h[8];
    uint8_t mac[6];
    int r, br;

    if (s->n_eps == MAX_EPS)
        return err_set(err, -ENOSPC, "too many networks for one container");
    for (size_t i = 0; i < s->n_eps; i++)
        if (s->eps[i].net == x)
            return err_set(err, -EEXIST, "endpoint with name %s already exists in network %s",
                           s->name, x->name);
    e = &s->eps[s->n_eps];
    memset(e, 0, sizeof(*e));
    if ((r = bridge_up(n, x, err)) < 0)
        return r;
    r = onet__pool_alloc(&x->pool, &e->ip);
    if (r == -ENOSPC && n->dels) { /* addresses of exited containers on their way back */
        dels_flush(n, x);
        r = onet__pool_alloc(&x->pool, &e->ip);
    }
    if (r < 0)
        return err_set(err, r, "no available IPv4 addresses on network %s", x->name);
    e->net = x;
    (void)snprintf(e->ifname, sizeof(e->ifname), "eth%zu", s->n_eps);
    for (int tries = 0;; tries++) {
        hex7(h);
        (void)snprintf(e->host_if, sizeof(e->host_if), "veth%s", h);
        mac_of(e->ip, mac);
        r = onet__veth_add(n->nl, e->host_if, e->ifname, s->nsfd, x->mtu, mac, err);
        if (r != -EEXIST || tries == 3)
            break;
    }
    if (r < 0)
        goto fail_ip;
    br = onet__link_ifindex(n->nl, x->bridge);
    if (br < 0) {
        r = err_set(err, br, "bridge %s is gone", x->bridge);
        goto fail_veth;
    }
    if ((r = onet__link_up(n->nl, e->host_if, br, err)) < 0)
        goto fail_veth;
    /* br_netfilter DNATs bridged frames: a container reaching its own
     * published port sends the frame back out of the port it came in on */
    char hp[96];
    (void)snprintf(hp, sizeof(hp), "/sys/class/net/%s/brport/hairpin_mode", e->host_if);
    if (onet__sysctl(hp, "1") < 0)
        log_debug("cannot set %s, ignoring", hp);
    if ((r = onet__nl_open(s->nsfd, &ns_sk, err)) < 0)
        goto fail_veth;
    if ((r = onet__addr_add(ns_sk, e->ifname, e->ip, x->subnet.prefix, err)) < 0 ||
        (r = onet__link_up(ns_sk, e->ifname, 0, err)) < 0)
        goto fail_veth;
    /* default route through the first network that has a way out */
    bool have_route = false;
    for (size_t i = 0; i < s->n_eps; i++)
        have_route |= !s->eps[i].net->internal;
    if (!x->internal && !have_route && (r = onet__route_default(ns_sk, e->ifname, x->gw, err)) < 0)
        goto fail_veth;
    onet__nl_close(ns_sk);
    if (id_new_hex(e->endpoint_id) < 0)
        e->endpoint_id[0] = '\0';
    e->aliases = json_array_size(aliases) ? json_incref(aliases) : NULL;
    s->n_eps++;
    return 0;
fail_veth:
    onet__nl_close(ns_sk);
    (void)onet__link_del(n->nl, e->host_if);
fail_ip:
    onet__pool_put(&x->pool, e->ip);
    memset(e, 0, sizeof(*e));
    return r;
}

/* ---- veth deletion off the loop ---------------------------------------- */

/* Thread pool: a netlink socket of its own (libnl sockets are not shared
 * between threads), one RTM_DELLINK per endpoint. */
static void dels_work(uv_work_t *req)
{
    struct dellinks *d = container_of(req, struct dellinks, req);
    struct nl_sock *sk = NULL;
    int r = onet__nl_open(-1, &sk, NULL);

    for (size_t i = 0; i < d->n_eps; i++)
        d->eps[i].r = r < 0 ? r : onet__link_del(sk, d->eps[i].host_if);
    onet__nl_close(sk);
    pthread_mutex_lock(&del_mu);
    d->done = true;
    pthread_cond_broadcast(&del_cv);
    pthread_mutex_unlock(&del_mu);
}

/* Loop thread, once the links are gone: addresses back to their pools. */
static void dels_settle(struct onet *n, struct dellinks *d)
{
    if (d->settled)
        return;
    for (size_t i = 0; i < d->n_eps; i++) {
        struct gone_ep *g = &d->eps[i];
        /* ENODEV: the kernel deleted it with the container's namespace */
        if (g->r < 0 && g->r != -ENOENT && g->r != -ENODEV)
            log_warn("deleting %s: %s", g->host_if, strerror(-g->r));
        onet__pool_put(&g->net->pool, g->ip);
    }
    for (struct dellinks **pp = &n->dels; *pp; pp = &(*pp)->next)
        if (*pp == d) {
            *pp = d->next;
            break;
        }
    d->settled = true;
    d->n = NULL;
}

static void dels_after(uv_work_t *req, int status)
{
    struct dellinks *d = container_of(req, struct dellinks, req);

    (void)status; /* canceled ones were deleted and settled by dels_flush */
    if (d->n)
        dels_settle(d->n, d);
    free(d);
}

static bool dels_use(const struct dellinks *d, const struct net *x)
{
    for (size_t i = 0; i < d->n_eps; i++)
        if (d->eps[i].net == x)
            return true;
    return false;
}

/* Finish the pending deletions touching network x (all when x is NULL) now:
 * ones not started yet here, synchronously; running ones are waited for. */
static void dels_flush(struct onet *n, const struct net *x)
{
    struct dellinks *d = n->dels, *next;

    for (; d; d = next) {
        next = d->next;
        if (x && !dels_use(d, x))
            continue;
        if (uv_cancel((uv_req_t *)&d->req) == 0) {
            for (size_t i = 0; i < d->n_eps; i++)
                d->eps[i].r = onet__link_del(n->nl, d->eps[i].host_if);
        } else {
            pthread_mutex_lock(&del_mu);
            while (!d->done)
                pthread_cond_wait(&del_cv, &del_mu);
            pthread_mutex_unlock(&del_mu);
        }
        dels_settle(n, d);
    }
}

/* Hand the collected endpoints to the thread pool (or delete them here if
 * that cannot be done). */
static void dels_queue(struct onet *n, struct dellinks *d)
{
    d->n = n;
    d->next = n->dels;
    n->dels = d;
    if (uv_queue_work(n->loop, &d->req, dels_work, dels_after) < 0) {
        for (size_t i = 0; i < d->n_eps; i++)
            d->eps[i].r = onet__link_del(n->nl, d->eps[i].host_if);
        dels_settle(n, d);
        free(d);
    }
}

/* Remove endpoint i of s. With d, the host veth is deleted later (and its
 * address freed then): only for sandboxes whose namespace goes away, since
 * the container end keeps its name (eth<i>) until the link is deleted. */
static void ep_del(struct onet *n, struct sbox *s, size_t i, struct dellinks *d)
{
    struct ep *e = &s->eps[i];

    if (d) {
        struct gone_ep *g = &d->eps[d->n_eps++];
        g->net = e->net;
        g->ip = e->ip;
        memcpy(g->host_if, e->host_if, sizeof(g->host_if));
    } else {
        (void)onet__link_del(n->nl, e->host_if);
        onet__pool_put(&e->net->pool, e->ip);
    }
    json_decref(e->aliases);
    memmove(&s->eps[i], &s->eps[i + 1], (s->n_eps - i - 1) * sizeof(*e));
    s->n_eps--;
}

static void sbox_teardown(struct onet *n, struct sbox *s)
{
    char path[PATH_MAX + 80];

    struct dellinks *d = s->n_eps ? calloc(1, sizeof(*d)) : NULL;

    onet__dns_stop(s->dns);
    s->dns = NULL;
    while (s->n_eps)
        ep_del(n, s, s->n_eps - 1, d);
    if (d)
        dels_queue(n, d);
    if (s->own_ns) {
        if (s->nsfd >= 0)
            (void)close(s->nsfd);
        s->nsfd = -1;
        onet__netns_delete(s->path);
    }
    (void)snprintf(path, sizeof(path), "%s/%s.json", n->state_dir, s->id);
    (void)unlink(path);
    sbox_free(s);
}

static json_t *aliases_for(struct onet *n, json_t *networking, struct net *x)
{
    json_t *ec = json_object_get(networking, "EndpointsConfig");
    const char *k;
    json_t *v;

    json_object_foreach(ec, k, v)
    {
        if (net_find(n, k) == x)
            return json_object_get(v, "Aliases");
    }
    return NULL;
}

static void sbox_unlink(struct onet *n, struct sbox *s)
{
    for (struct sbox **pp = &n->sboxes; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            return;
        }
}

int onet_container_prepare(struct onet *n, const struct onet_ctr *c, char *netns_path, size_t len,
                           struct err *err)
{
    const char *mode = jstr(c->host_config, "NetworkMode");
    json_t *pend = json_object_get(n->pending, c->id);
    struct sbox *s;
    struct net *x;
    const char *k;
    json_t *v;
    int r;

    if (len)
        netns_path[0] = '\0';
    if (!c->id || strlen(c->id) != 64)
        return err_set(err, -EINVAL, "invalid container id");
    if ((s = sbox_find(n, c->id))) { /* a start without a release before */
        sbox_unlink(n, s);
        sbox_teardown(n, s);
    }
    if ((r = mode_net(n, mode, &x, err)) < 0)
        return r;
    if (mode && strncmp(mode, "container:", 10) == 0) {
        if (!c->join_netns || !*c->join_netns)
            return err_set(err, -EINVAL,
                           "cannot join the network of container %s: it is not "
                           "running",
                           mode + 10);
        (void)snprintf(netns_path, len, "%s", c->join_netns);
        return 0;
    }
    if (!x)
        return 0; /* host, none: the runtime's own */
    if (!(s = calloc(1, sizeof(*s))))
        return err_set(err, -ENOMEM, "out of memory");
    s->nsfd = -1;
    s->own_ns = true;
    (void)snprintf(s->id, sizeof(s->id), "%s", c->id);
    (void)snprintf(s->name, sizeof(s->name), "%s", c->name ?: "");
    (void)snprintf(s->hostname, sizeof(s->hostname), "%s", c->hostname ?: "");
    (void)snprintf(s->path, sizeof(s->path), "%s/%s", n->ns_dir, c->id);
    if ((r = onet__ports_parse(c->host_config, c->config, &s->ports, &s->n_ports, err)) < 0 ||
        (r = onet__ports_reserve(s->ports, s->n_ports, err)) < 0) {
        sbox_free(s);
        return r;
    }
    if (!n->ns_dir_ready) {
        if ((r = onet__netns_dir_init(n->ns_dir, err)) < 0) {
            sbox_free(s);
            return r;
        }
        n->ns_dir_ready = true;
    }
    if ((r = onet__netns_create(s->path, &s->nsfd, err)) < 0) {
        s->own_ns = false;
        sbox_free(s);
        return r;
    }
    if ((r = ep_add(n, s, x, aliases_for(n, c->networking, x), err)) < 0)
        goto fail;
    json_object_foreach(pend, k, v)
    {
        struct net *y = net_by_id(n, k);
        if (!y || y == x)
            continue;
        if ((r = ep_add(n, s, y, json_object_get(v, "Aliases"), err)) < 0)
            goto fail;
    }
    if ((r = dns_start(n, s, err)) < 0)
        goto fail;
    s->next = n->sboxes;
    n->sboxes = s;
    if ((r = nft_sync(n, err)) < 0 || (r = sbox_save(n, s)) < 0) {
        if (r != -EIO)
            err_set(err, r, "saving network state: %s", strerror(-r));
        sbox_unlink(n, s);
        sbox_teardown(n, s);
        (void)nft_sync(n, NULL);
        return r;
    }
    (void)snprintf(netns_path, len, "%s", s->path);
    return 0;
fail:
    sbox_teardown(n, s);
    return r;
}

void onet_container_release(struct onet *n, const char *id, bool removed)
{
    struct sbox *s = sbox_find(n, id);

    if (s) {
        sbox_unlink(n, s);
        sbox_teardown(n, s);
        (void)nft_sync(n, NULL);
    }
    if (removed && json_object_get(n->pending, id)) {
        json_object_del(n->pending, id);
        (void)pending_save(n);
    }
}

const char *onet_container_netns(struct onet *n, const char *id)
{
    struct sbox *s = sbox_find(n, id);

    return s ? s->path : NULL;
}

void onet_sync_running(struct onet *n, const char *const *ids, size_t n_ids)
{
    struct sbox *s, *next;

    for (s = n->sboxes; s; s = next) {
        bool keep = false;
        next = s->next;
        for (size_t i = 0; i < n_ids && !keep; i++)
            keep = strcmp(ids[i], s->id) == 0;
        if (!keep) {
            log_info("container %.12s is gone: releasing its network", s->id);
            sbox_unlink(n, s);
            sbox_teardown(n, s);
        }
    }
    (void)nft_sync(n, NULL);
}

static bool sbox_on(struct sbox *s, struct net *x, struct ep **ret)
{
    for (size_t i = 0; i < s->n_eps; i++)
        if (s->eps[i].net == x) {
            if (ret)
                *ret = &s->eps[i];
            return true;
        }
    return false;
}

static bool name_is(const struct sbox *s, const struct ep *e, const char *name)
{
    size_t i;
    json_t *a;

    if (strcasecmp(s->name, name) == 0 || (strncmp(s->id, name, 12) == 0 && strlen(name) == 12))
        return true;
    if (s->hostname[0] && strcasecmp(s->hostname, name) == 0)
        return true;
    json_array_foreach(e->aliases, i, a)
    {
        if (json_string_value(a) && strcasecmp(json_string_value(a), name) == 0)
            return true;
    }
    return false;
}

static bool dns_lookup(void *arg, const char *ctr_id, const char *name, uint32_t *ret_ip)
{
    struct onet *n = arg;
    struct sbox *me = sbox_find(n, ctr_id);
    char base[256];

    if (!me)
        return false;
    for (size_t i = 0; i < me->n_eps; i++) {
        struct net *x = me->eps[i].net;
        size_t nl = strlen(name), xl = strlen(x->name);
        if (x->is_default)
            continue; /* like Docker: no name resolution on the default bridge */
        /* "web" or "web.<network>" */
        (void)snprintf(base, sizeof(base), "%s", name);
        if (nl > xl + 1 && name[nl - xl - 1] == '.' && strcasecmp(name + nl - xl, x->name) == 0)
            base[nl - xl - 1] = '\0';
        for (struct sbox *s = n->sboxes; s; s = s->next) {
            struct ep *e;
            if (sbox_on(s, x, &e) && name_is(s, e, base)) {
                *ret_ip = e->ip;
                return true;
            }
        }
    }
    return false;
}

int onet_container_etc_files(struct onet *n, const char *id, const char *hostname,
                             const char *network_mode, char **ret_hosts, char **ret_resolv)
{
    struct sbox *s = sbox_find(n, id);
    struct buf h, rv;
    char *host_rc = NULL;
    char ip[16];

    buf_init(&h);
    buf_init(&rv);
    buf_printf(&h, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                   "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
                   "ff02::2\tip6-allrouters\n");
    if (s && s->n_eps) {
        onet__ip_fmt(s->eps[0].ip, ip);
        buf_printf(&h, "%s\t%s\n", ip, hostname ?: s->hostname);
    }
    (void)read_file(n->resolv_conf, &host_rc, NULL, 64 * 1024);
    if (network_mode && strcmp(network_mode, "host") == 0) {
        buf_printf(&rv, "%s", host_rc ?: "");
    } else if (s && s->n_eps) {
        char *save = NULL;
        buf_printf(&rv, "nameserver 127.0.0.11\n");
        for (char *l = host_rc ? strtok_r(host_rc, "\n", &save) : NULL; l;
             l = strtok_r(NULL, "\n", &save))
            if (strncmp(l, "search ", 7) == 0 || strncmp(l, "domain ", 7) == 0)
                buf_printf(&rv, "%s\n", l);
        buf_printf(&rv, "options ndots:0\n");
    }
    free(host_rc);
    *ret_hosts = buf_steal(&h);
    *ret_resolv = buf_steal(&rv);
    if (!*ret_hosts || !*ret_resolv) {
        free(*ret_hosts);
        free(*ret_resolv);
        return -ENOMEM;
    }
    return 0;
}

static json_t *ep_json(struct net *x, struct ep *e)
{
    char ip[16] = "", gw[16] = "", mac[18] = "";

    if (e) {
        onet__ip_fmt(e->ip, ip);
        mac_fmt(e->ip, mac);
        onet__ip_fmt(x->gw, gw);
    }
    return json_pack(
        "{s:n, s:n, s:O?, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:s, s:n}", "IPAMConfig", "Links",
        "Aliases", e ? e->aliases : NULL, "NetworkID", x->id, "EndpointID", e ? e->endpoint_id : "",
        "Gateway", gw, "IPAddress", ip, "IPPrefixLen", e ? x->subnet.prefix : 0, "IPv6Gateway", "",
        "GlobalIPv6Address", "", "GlobalIPv6PrefixLen", 0, "MacAddress", mac, "DriverOpts");
}

json_t *onet_container_networks_json(struct onet *n, const char *id, const char *mode)
{
    struct sbox *s = sbox_find(n, id);
    json_t *o = json_object();
    struct net *x = NULL;
    const char *k;
    json_t *v;

    if (s) {
        for (size_t i = 0; i < s->n_eps; i++)
            json_object_set_new(o, s->eps[i].net->name, ep_json(s->eps[i].net, &s->eps[i]));
        return o;
    }
    if (mode && (strcmp(mode, "host") == 0 || strcmp(mode, "none") == 0)) {
        json_t *e = json_pack("{s:n, s:n, s:n, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:s, s:n}",
                              "IPAMConfig", "Links", "Aliases", "NetworkID", "", "EndpointID", "",
                              "Gateway", "", "IPAddress", "", "IPPrefixLen", 0, "IPv6Gateway", "",
                              "GlobalIPv6Address", "", "GlobalIPv6PrefixLen", 0, "MacAddress", "",
                              "DriverOpts");
        json_object_set_new(o, mode, e);
        return o;
    }
    if (mode_net(n, mode, &x, NULL) == 0 && x)
        json_object_set_new(o, x->name, ep_json(x, NULL));
    json_object_foreach(json_object_get(n->pending, id), k, v)
    {
        struct net *y = net_by_id(n, k);
        if (y && y != x)
            json_object_set_new(o, y->name, ep_json(y, NULL));
    }
    return o;
}

static json_t *ports_json(struct sbox *s)
{
    json_t *o = json_object();
    char key[32], ip[16], hp[8];

    for (size_t i = 0; s && i < s->n_ports; i++) {
        struct onet_port *p = &s->ports[i];
        json_t *arr;
        (void)snprintf(key, sizeof(key), "%u/%s", p->ctr_port,
                       p->proto == IPPROTO_UDP ? "udp" : "tcp");
        if (!(arr = json_object_get(o, key))) {
            arr = json_array();
            json_object_set_new(o, key, arr);
        }
        onet__ip_fmt(p->host_ip, ip);
        (void)snprintf(hp, sizeof(hp), "%u", p->host_port);
        json_array_append_new(arr, json_pack("{s:s, s:s}", "HostIp", ip, "HostPort", hp));
    }
    return o;
}

json_t *onet_container_settings_json(struct onet *n, const char *id, const char *mode)
{
    struct sbox *s = sbox_find(n, id);
    struct ep *def = NULL;
    char ip[16] = "", gw[16] = "", mac[18] = "";

    if (s)
        for (size_t i = 0; i < s->n_eps; i++)
            if (s->eps[i].net->is_default)
                def = &s->eps[i];
    if (def) {
        onet__ip_fmt(def->ip, ip);
        onet__ip_fmt(def->net->gw, gw);
        mac_fmt(def->ip, mac);
    }
    return json_pack("{s:s, s:s, s:b, s:s, s:i, s:o, s:s, s:n, s:n, s:s, s:s, s:s, s:i, s:s, "
                     "s:i, s:s, s:s, s:o}",
                     "Bridge", "", "SandboxID", s ? s->id : "", "HairpinMode", 0,
                     "LinkLocalIPv6Address", "", "LinkLocalIPv6PrefixLen", 0, "Ports",
                     ports_json(s), "SandboxKey", s ? s->path : "", "SecondaryIPAddresses",
                     "SecondaryIPv6Addresses", "EndpointID", def ? def->endpoint_id : "", "Gateway",
                     gw, "GlobalIPv6Address", "", "GlobalIPv6PrefixLen", 0, "IPAddress", ip,
                     "IPPrefixLen", def ? def->net->subnet.prefix : 0, "IPv6Gateway", "",
                     "MacAddress", mac, "Networks", onet_container_networks_json(n, id, mode));
}

json_t *onet_container_ports_summary(struct onet *n, const char *id)
{
    struct sbox *s = sbox_find(n, id);
    json_t *arr = json_array();
    char ip[16];

    for (size_t i = 0; s && i < s->n_ports; i++) {
        struct onet_port *p = &s->ports[i];
        onet__ip_fmt(p->host_ip, ip);
        json_array_append_new(arr, json_pack("{s:s, s:i, s:i, s:s}", "IP", ip, "PrivatePort",
                                             p->ctr_port, "PublicPort", p->host_port, "Type",
                                             p->proto == IPPROTO_UDP ? "udp" : "tcp"));
    }
    return arr;
}

int onet_network_connect(struct onet *n, const char *ref, const struct onet_ctr *c, bool running,
                         json_t *endpoint_config, struct err *err)
{
    struct net *x = net_find(n, ref), *cur = NULL;
    struct sbox *s = sbox_find(n, c->id);
    const char *mode = jstr(c->host_config, "NetworkMode");
    json_t *al = json_object_get(endpoint_config, "Aliases");
    int r;

    if (!x) {
        if (strcmp(ref, "host") == 0 || strcmp(ref, "none") == 0)
            return err_set(err, -EPERM,
                           "container cannot be disconnected from host network or connected to "
                           "host network");
        return err_set(err, -ENOENT, "network %s not found", ref);
    }
    if (al && !json_is_array(al))
        return err_set(err, -EINVAL, "invalid Aliases");
    if (json_array_size(al) && x->is_default)
        return err_set(err, -EINVAL,
                       "network-scoped alias is supported only for containers in "
                       "user defined networks");
    if (mode && (strcmp(mode, "host") == 0 || strcmp(mode, "none") == 0 ||
                 strncmp(mode, "container:", 10) == 0))
        return err_set(err, -EPERM,
                       "container sharing network namespace with another container or host "
                       "cannot be connected to any other network");
    (void)mode_net(n, mode, &cur, NULL);
    if (running) {
        if (!s)
            return err_set(err, -EINVAL, "container %.12s has no network namespace of ours", c->id);
        if ((r = ep_add(n, s, x, al, err)) < 0)
            return r;
        (void)dns_start(n, s, NULL);
        if ((r = nft_sync(n, err)) < 0) {
            ep_del(n, s, s->n_eps - 1, NULL);
            return r;
        }
        (void)sbox_save(n, s);
    } else if (cur == x || json_object_get(json_object_get(n->pending, c->id), x->id)) {
        return err_set(err, -EEXIST, "endpoint with name %s already exists in network %s", c->name,
                       x->name);
    }
    /* remembered for later starts */
    json_t *m = json_object_get(n->pending, c->id);
    if (!m) {
        m = json_object();
        json_object_set_new(n->pending, c->id, m);
    }
    if (x != cur)
        json_object_set_new(m, x->id, json_pack("{s:O?}", "Aliases", al));
    (void)pending_save(n);
    return 0;
}

int onet_network_disconnect(struct onet *n, const char *ref, const char *ctr_id, bool force,
                            struct err *err)
{
    struct net *x = net_find(n, ref);
    struct sbox *s = sbox_find(n, ctr_id);
    json_t *m = json_object_get(n->pending, ctr_id);
    bool found = false;

    (void)force;
    if (!x)
        return err_set(err, -ENOENT, "network %s not found", ref);
    if (s)
        for (size_t i = 0; i < s->n_eps; i++)
            if (s->eps[i].net == x) {
                if (i == 0 && s->n_eps > 1)
                    return err_set(err, -EINVAL,
                                   "disconnecting a container from its first network while "
                                   "connected to others is not supported");
                ep_del(n, s, i, NULL);
                found = true;
                (void)sbox_save(n, s);
                (void)nft_sync(n, NULL);
                break;
            }
    if (json_object_get(m, x->id)) {
        json_object_del(m, x->id);
        if (json_object_size(m) == 0)
            json_object_del(n->pending, ctr_id);
        (void)pending_save(n);
        found = true;
    }
    if (!found)
        return err_set(err, -EINVAL, "container %.12s is not connected to network %s", ctr_id,
                       x->name);
    return 0;
}
