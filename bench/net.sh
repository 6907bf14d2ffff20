#!/bin/bash
# bench/net.sh - network paths: TCP throughput (iperf3) and connections per second.
#
# Throughput, one iperf3 stream, ROUNDS rounds of SECS seconds, the three paths
# taking turns in every round, median reported:
#   veth       a raw veth pair between two network namespaces made here (the floor)
#   bridge     container -> container on shoald's default bridge (shoal0)
#   published  host -> 127.0.0.1:PORT published with -p (nftables DNAT)
# Connections per second (bench/connrate.c, THREADS client threads, one HTTP/1.0
# request per connection, close) to a container port published with -p on
# 127.0.0.1, two servers: busybox httpd (forks per connection) and connrate's own
# one-thread accept loop (so the path, not the server, dominates). ROUNDS rounds
# alternating between shoald (nftables DNAT, no proxy) and a Debian dockerd
# started here (docker-proxy), median reported.
#
# Every daemon, namespace and link is made here and removed on exit: dockerd runs
# with its own data root, exec root, socket and --bip 172.31.0.1/24 (away from
# shoal0's 172.18.0.0/16); its docker0 bridge and the iptables rules it adds are
# removed afterwards, and the sysctls it changes are put back. All traffic stays
# on loopback and in namespaces made here. Run it alone: it starts shoald and
# dockerd in the root network namespace.
#
# Usage: bench/net.sh [ROUNDS]      (default 3; root; iperf3, dockerd, cc)
# Env:   SECS=5 THREADS=4 SHOAL_BUILD=build
# The machine's other load moves single iperf3 runs by +-30%: use ROUNDS >= 5 for
# the bridge/veth ratio (the median of the per-round ratios is printed too).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

ROUNDS=${1:-3}
SECS=${SECS:-5}
THREADS=${THREADS:-4}
((ROUNDS >= 1)) || bench_die "ROUNDS must be >= 1"
bench_require_root
for b in iperf3 cc ip nft iptables-save python3; do
    command -v "$b" >/dev/null || bench_die "$b not installed (scripts/install-deps.sh --bench)"
done
have_shoald || bench_die "no $SHOAL_BUILD/shoald (make first)"
bench_workdir net

NS_A=sbn-a-$$
NS_B=sbn-b-$$
SHOAL_PORT=18611
SHOAL_IPERF_PORT=18612
SHOAL_PORT2=18613
DOCKER_PORT=18621
DOCKER_PORT2=18623
DOCKERD_SOCK=""
DOCKERD_PID=""
SAVED_SYSCTLS=()
TABLES_BEFORE=""

sysctl_save() {
    local k
    for k in "$@"; do
        [[ -e /proc/sys/${k//.//} ]] && SAVED_SYSCTLS+=("$k=$(sysctl -n "$k")")
    done
}

net_cleanup() {
    local kv t
    bench_cleanup
    ip netns del "$NS_A" 2>/dev/null || true
    ip netns del "$NS_B" 2>/dev/null || true
    if [[ -n $DOCKERD_PID ]]; then
        # dockerd leaves docker0 and its iptables chains behind
        ip link del docker0 2>/dev/null || true
        if [[ -s $W_KEEP/iptables.before ]]; then
            iptables-restore <"$W_KEEP/iptables.before" 2>/dev/null || true
        fi
        if [[ -s $W_KEEP/ip6tables.before ]]; then
            ip6tables-restore <"$W_KEEP/ip6tables.before" 2>/dev/null || true
        fi
        # tables that did not exist before dockerd ran
        while read -r t; do
            [[ -z $t || $t == "table ip shoal" ]] && continue
            # shellcheck disable=SC2086 # "table FAMILY NAME" as words
            grep -qxF "$t" <<<"$TABLES_BEFORE" || nft delete $t 2>/dev/null || true
        done < <(nft list tables 2>/dev/null)
        for kv in "${SAVED_SYSCTLS[@]}"; do
            sysctl -qw "$kv" >/dev/null 2>&1 || true
        done
    fi
    rm -rf "$W_KEEP"
}
W_KEEP=$(mktemp -d /tmp/sb-net-keep.XXXXXX)
trap net_cleanup EXIT

median() {
    printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {
        if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2] + a[NR/2+1]) / 2 }'
}

# ---- the image: busybox + iperf3 and its libraries + a page for httpd
bench_log "building the image"
BB_TAR=$(bench_bb_tar)
R=$W/rootfs
mkdir -p "$R/www"
tar -xf "$BB_TAR" -C "$R"
cp -L --parents /usr/bin/iperf3 "$R"
ldd /usr/bin/iperf3 | awk '/=> \// {print $3} /^\t\/.*ld-linux/ {print $1}' | while read -r lib; do
    cp -L --parents "$lib" "$R"
done
echo "hello from the bench" >"$R/www/index.html"
cc -O2 -Wall -static -pthread "$REPO_ROOT/bench/connrate.c" -o "$W/connrate"
cp "$W/connrate" "$R/connrate"
tar --numeric-owner -C "$R" -cf "$W/nb.tar" .
rm -rf "$R"

# iperf3 -J output -> Gbit/s received
gbits() {
    python3 -c '
import json, sys
d = json.load(sys.stdin)
print("%.2f" % (d["end"]["sum_received"]["bits_per_second"] / 1e9))'
}

# ---- the raw veth pair
ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add sbn-va-$$ netns "$NS_A" type veth peer name sbn-vb-$$ netns "$NS_B"
ip -n "$NS_A" addr add 10.231.77.1/24 dev sbn-va-$$
ip -n "$NS_B" addr add 10.231.77.2/24 dev sbn-vb-$$
ip -n "$NS_A" link set lo up
ip -n "$NS_B" link set lo up
ip -n "$NS_A" link set sbn-va-$$ up
ip -n "$NS_B" link set sbn-vb-$$ up
ip netns exec "$NS_B" iperf3 -s -D -B 10.231.77.2 --pidfile "$W/iperf-veth.pid"
for _ in $(seq 50); do
    [[ -s $W/iperf-veth.pid ]] && break
    sleep 0.1
done
BENCH_PIDS+=("$(tr -d '\0' <"$W/iperf-veth.pid")")

# ---- shoald
bench_start_shoald "$W/s" || bench_die "shoald did not start"
S() { DOCKER_HOST=unix://$SHOALD_SOCK "$DOCKER_BIN" "$@"; }
S import "$W/nb.tar" nb:latest >/dev/null
S run -d --name ips nb:latest iperf3 -s >/dev/null
S run -d --name ipp -p "127.0.0.1:$SHOAL_IPERF_PORT:5201" nb:latest iperf3 -s >/dev/null
S run -d --name web -p "127.0.0.1:$SHOAL_PORT:80" nb:latest httpd -f -p 80 -h /www >/dev/null
S run -d --name acc -p "127.0.0.1:$SHOAL_PORT2:80" nb:latest /connrate serve 80 >/dev/null
IPS_ADDR=$(S inspect -f '{{.NetworkSettings.IPAddress}}' ips)
[[ -n $IPS_ADDR ]] || bench_die "no address for the iperf3 server container"
sleep 1
bench_log "shoal: iperf3 server at $IPS_ADDR, published iperf3 127.0.0.1:$SHOAL_IPERF_PORT," \
    "httpd 127.0.0.1:$SHOAL_PORT, accept loop 127.0.0.1:$SHOAL_PORT2"

declare -a T_VETH T_BRIDGE T_PUB R_BRIDGE C_SHOAL C_DOCKER C2_SHOAL C2_DOCKER
for ((r = 1; r <= ROUNDS; r++)); do
    v=$(ip netns exec "$NS_A" iperf3 -c 10.231.77.2 -t "$SECS" -O 1 -J | gbits)
    b=$(S run --rm nb:latest iperf3 -c "$IPS_ADDR" -t "$SECS" -O 1 -J | gbits)
    p=$(iperf3 -c 127.0.0.1 -p "$SHOAL_IPERF_PORT" -t "$SECS" -O 1 -J | gbits)
    T_VETH+=("$v")
    T_BRIDGE+=("$b")
    T_PUB+=("$p")
    # the bridge/veth ratio of the same round: less exposed to load drift
    R_BRIDGE+=("$(awk -v a="$b" -v b="$v" 'BEGIN { printf "%.0f", 100 * a / b }')")
    bench_log "round $r: veth $v Gbit/s, bridge $b Gbit/s, published $p Gbit/s"
done

# ---- dockerd, with its default bridge and docker-proxy (as installed)
iptables-save >"$W_KEEP/iptables.before" 2>/dev/null || true
ip6tables-save >"$W_KEEP/ip6tables.before" 2>/dev/null || true
TABLES_BEFORE=$(nft list tables 2>/dev/null || true)
sysctl_save net.ipv4.ip_forward net.ipv4.conf.all.route_localnet \
    net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
if ip link show docker0 >/dev/null 2>&1; then
    bench_die "a docker0 bridge exists already: is another dockerd running?"
fi
mkdir -p "$W/d"
DOCKERD_SOCK=$W/d/d.sock
"$DOCKERD_BIN" --data-root "$W/d/data" --exec-root "$W/d/exec" -H "unix://$DOCKERD_SOCK" \
    --pidfile "$W/d/d.pid" --bip 172.31.0.1/24 \
    --containerd-namespace shoalbench --containerd-plugins-namespace shoalbench-p \
    --cgroup-parent "/shoalbench-${W##*.}" \
    </dev/null >"$W/d/dockerd.log" 2>&1 &
DOCKERD_PID=$!
BENCH_PIDS+=("$DOCKERD_PID")
bench_wait_ping "$DOCKERD_SOCK" "$DOCKERD_PID" || {
    tail -n 30 "$W/d/dockerd.log" >&2
    bench_die "dockerd did not start"
}
D() { DOCKER_HOST=unix://$DOCKERD_SOCK "$DOCKER_BIN" "$@"; }
D import "$W/nb.tar" nb:latest >/dev/null
D run -d --name web -p "127.0.0.1:$DOCKER_PORT:80" nb:latest httpd -f -p 80 -h /www >/dev/null
D run -d --name acc -p "127.0.0.1:$DOCKER_PORT2:80" nb:latest /connrate serve 80 >/dev/null
sleep 1
pgrep -f "docker-proxy.*-host-port $DOCKER_PORT" >/dev/null ||
    bench_log "note: no docker-proxy seen for port $DOCKER_PORT"

# warm-up, then rounds alternating which daemon goes first
for port in "$SHOAL_PORT" "$DOCKER_PORT" "$SHOAL_PORT2" "$DOCKER_PORT2"; do
    "$W/connrate" 127.0.0.1 "$port" 1 "$THREADS" >/dev/null
done
conn_rate() {
    local out
    out=$("$W/connrate" 127.0.0.1 "$1" "$SECS" "$THREADS")
    bench_log "  $2: $out"
    awk '{print $8}' <<<"$out"
}
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then
        C_SHOAL+=("$(conn_rate "$SHOAL_PORT" "shoal httpd")")
        C_DOCKER+=("$(conn_rate "$DOCKER_PORT" "docker httpd")")
        C2_SHOAL+=("$(conn_rate "$SHOAL_PORT2" "shoal accept-loop")")
        C2_DOCKER+=("$(conn_rate "$DOCKER_PORT2" "docker accept-loop")")
    else
        C_DOCKER+=("$(conn_rate "$DOCKER_PORT" "docker httpd")")
        C_SHOAL+=("$(conn_rate "$SHOAL_PORT" "shoal httpd")")
        C2_DOCKER+=("$(conn_rate "$DOCKER_PORT2" "docker accept-loop")")
        C2_SHOAL+=("$(conn_rate "$SHOAL_PORT2" "shoal accept-loop")")
    fi
done

mv=$(median "${T_VETH[@]}")
mb=$(median "${T_BRIDGE[@]}")
mp=$(median "${T_PUB[@]}")
cs=$(median "${C_SHOAL[@]}")
cd_=$(median "${C_DOCKER[@]}")
cs2=$(median "${C2_SHOAL[@]}")
cd2=$(median "${C2_DOCKER[@]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", 100 * a / b }'; }
printf '\nTCP throughput, 1 iperf3 stream, %s s x %d rounds, median (%s, %s cores)\n' \
    "$SECS" "$ROUNDS" "$(uname -r)" "$(nproc)"
printf '%-40s %10s %8s\n' path Gbit/s "vs veth"
printf '%-40s %10s %8s\n' "raw veth pair (two namespaces)" "$mv" 100%
printf '%-40s %10s %8s\n' "container -> container, shoal0 bridge" "$mb" "$(pct "$mb" "$mv")"
printf '%-40s %10s %8s\n' "host -> 127.0.0.1 published port" "$mp" "$(pct "$mp" "$mv")"
printf 'bridge/veth per round: %s (median %s%%)\n' "${R_BRIDGE[*]/%/%}" "$(median "${R_BRIDGE[@]}")"
printf '\nConnections per second to 127.0.0.1:PORT published port, %d threads, %s s x %d rounds\n' \
    "$THREADS" "$SECS" "$ROUNDS"
printf '%-40s %12s %12s\n' server "busybox httpd" "accept loop"
printf '%-40s %12s %12s\n' "shoald (nftables DNAT)" "$cs" "$cs2"
printf '%-40s %12s %12s\n' "dockerd 20.10 (docker-proxy)" "$cd_" "$cd2"
printf '%-40s %12s %12s\n' "ratio shoal/docker" "$(ratio "$cs" "$cd_")" "$(ratio "$cs2" "$cd2")"
bench_result net.veth.gbits "$mv"
bench_result net.bridge.gbits "$mb"
bench_result net.bridge_vs_veth.pct "$(median "${R_BRIDGE[@]}")"
bench_result net.published.gbits "$mp"
bench_result net.conn.shoal "$cs"
bench_result net.conn.docker "$cd_"
bench_result net.conn_accept.shoal "$cs2"
bench_result net.conn_accept.docker "$cd2"
