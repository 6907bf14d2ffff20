/*
 * overlaynet/overlaynet.h - local container networking of a node.
 *
 * What it builds (Docker's "bridge" driver, our own implementation):
 *   - the default network "bridge" (Linux bridge shoal0, subnet from --bip)
 *     and user-defined bridge networks (bridges br-<id12>), persisted as
 *     <data-root>/network/<id>.json;
 *   - per container a network namespace <exec-root>/netns/<id> (bind mount,
 *     like `ip netns`) holding one veth end per network (eth0, eth1, ...)
 *     with an address from the network's IPAM, MAC 02:42:<ip>, the default
 *     route via the first network's gateway;
 *   - one nftables table of our own (`table ip shoal` by default) rebuilt
 *     atomically on every change: masquerade of outgoing traffic, DNAT of
 *     published ports (prerouting and output, including 127.0.0.1), hairpin
 *     NAT, isolation between networks and --internal networks;
 *   - an embedded DNS server per container namespace at 127.0.0.11:53 (udp
 *     and tcp) answering container names and aliases of the networks the
 *     asking container is on, forwarding the rest to the upstream servers.
 *
 * Threading: everything runs on the daemon's libuv loop thread. Work that
 * needs another network namespace runs on a short-lived helper thread that
 * setns()es into it and is joined at once (a few netlink round trips).
 * Exception: the host veths of a released container are deleted on the libuv
 * thread pool (RTM_DELLINK costs 10-30 ms each); their addresses return to the
 * pool when that is done, and onet_close() finishes pending deletions.
 *
 * Live restore: the state of attached containers is kept under
 * <exec-root>/net/; onet_open() restores it (DNS sockets are reopened in the
 * existing namespaces). onet_close() removes the bridges and the nftables
 * table only when no container is attached; otherwise it leaves everything in
 * place so running containers keep their networking.
 *
 * Errors: 0 or a negative errno with a message in err (-ENOENT "network x not
 * found", -EEXIST duplicate name / port already allocated (HTTP 409), -EBUSY
 * network in use (409), -EINVAL bad input (400)).
 */
#ifndef OVERLAYNET_OVERLAYNET_H
#define OVERLAYNET_OVERLAYNET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct err;
struct onet;

#define ONET_MAX_DNS 3

struct onet_opts {
    uv_loop_t *loop;
    const char *data_root;         /* networks: <data_root>/network/ */
    const char *exec_root;         /* namespaces and attachment state */
    const char *bip;               /* default bridge address, "172.18.0.1/16" */
    const char *bridge_name;       /* default "shoal0" */
    const char *nft_table;         /* default "shoal" */
    const char *dns[ONET_MAX_DNS]; /* upstream resolvers (--dns); none: /etc/resolv.conf */
    size_t n_dns;
    const char *resolv_conf; /* default "/etc/resolv.conf" */
    bool no_fast_path;       /* no veth-to-veth shortcut (table netdev) */
};

int onet_open(const struct onet_opts *opts, struct onet **ret, struct err *err);
/* Stop DNS servers and free everything; remove bridges, the nftables table
 * and the namespace directory if no container is attached. NULL is fine. */
void onet_close(struct onet *n);
/* Number of containers with networking set up. */
size_t onet_attached_count(struct onet *n);

/* ---- networks (Engine API /networks) ----------------------------------- */

/* POST /networks/create body (Name, Driver, Internal, Labels, Options,
 * IPAM.Config[].Subnet/Gateway/IPRange, CheckDuplicate). *ret_id: 64 hex. */
int onet_network_create(struct onet *n, json_t *body, char ret_id[65], struct err *err);
/* GET /networks/{ref} (name, full id or unique id prefix). New reference. */
int onet_network_inspect(struct onet *n, const char *ref, json_t **ret, struct err *err);
/* GET /networks: array (includes "bridge", "host", "none"). filters: the
 * parsed filters object (name, id, driver, label, type) or NULL. */
json_t *onet_network_list(struct onet *n, json_t *filters);
/* Docker's /networks filters (name, id, driver, scope, type, label; values of
 * a key OR'ed, keys AND'ed) on a network's JSON view; builtin: a predefined
 * network (bridge/host/none, or a swarm's ingress). */
bool onet_network_filter_match(json_t *filters, json_t *net, bool builtin);
/* DELETE /networks/{ref}; -EBUSY with Docker's message when in use,
 * -EPERM for the predefined networks. */
int onet_network_remove(struct onet *n, const char *ref, struct err *err);
/* POST /networks/prune: removes unused user networks; *ret names them. */
int onet_network_prune(struct onet *n, json_t *filters, json_t **ret_deleted, struct err *err);

/* ---- containers --------------------------------------------------------- */

/* What overlaynet needs to know about a container (all borrowed). */
struct onet_ctr {
    const char *id;         /* 64 hex */
    const char *name;       /* without '/' */
    const char *hostname;   /* Config.Hostname */
    json_t *config;         /* Config (ExposedPorts) */
    json_t *host_config;    /* HostConfig (NetworkMode, PortBindings, PublishAllPorts) */
    json_t *networking;     /* NetworkingConfig (EndpointsConfig.<net>.Aliases) or NULL */
    const char *join_netns; /* container:X mode: X's namespace path (resolved by the caller) */
};

/* Check NetworkMode / PortBindings / NetworkingConfig at create. */
int onet_validate(struct onet *n, json_t *config, json_t *host_config, json_t *networking,
                  struct err *err);
/* Build the container's networking before its start. Writes the namespace
 * path to join into netns_path ("" for host and none: the runtime's own).
 * On error nothing is left configured. */
int onet_container_prepare(struct onet *n, const struct onet_ctr *c, char *netns_path, size_t len,
                           struct err *err);
/* Tear down the container's networking (exit); removed=true also forgets
 * networks connected while stopped. Idempotent. */
void onet_container_release(struct onet *n, const char *id, bool removed);
/* The namespace path of a container set up by onet (for container:X), or NULL. */
const char *onet_container_netns(struct onet *n, const char *id);
/* Release every attached container whose id is not in ids (after a restart:
 * containers that died while shoald was down). */
void onet_sync_running(struct onet *n, const char *const *ids, size_t n_ids);

/* /etc/hosts and /etc/resolv.conf text for a container (malloc'd). Valid
 * after prepare; before it (or for none/host) the generic content. */
int onet_container_etc_files(struct onet *n, const char *id, const char *hostname,
                             const char *network_mode, char **ret_hosts, char **ret_resolv);

/* NetworkSettings of `docker inspect` (Bridge, Ports, IPAddress, Gateway,
 * MacAddress, Networks{...}, ...). network_mode: HostConfig.NetworkMode.
 * New reference. */
json_t *onet_container_settings_json(struct onet *n, const char *id, const char *network_mode);
/* `docker ps` Ports array ([{IP, PrivatePort, PublicPort, Type}]) and
 * NetworkSettings.Networks of the summary. New references. */
json_t *onet_container_ports_summary(struct onet *n, const char *id);
json_t *onet_container_networks_json(struct onet *n, const char *id, const char *network_mode);

/* POST /networks/{id}/connect and /disconnect. A running container (c
 * attached) gets a new interface at once; a stopped one at its next start.
 * endpoint_config: EndpointConfig (Aliases) or NULL. */
int onet_network_connect(struct onet *n, const char *ref, const struct onet_ctr *c, bool running,
                         json_t *endpoint_config, struct err *err);
int onet_network_disconnect(struct onet *n, const char *ref, const char *ctr_id, bool force,
                            struct err *err);

#endif
