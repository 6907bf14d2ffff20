#!/bin/bash
# bench/service-converge.sh - how fast a single-node swarm converges a
# replicated service: shoald vs Debian's dockerd 20.10, side by side in the
# same run.
#
# Each daemon runs in a network namespace of its own (lo + a veth pair, $ADDR
# on one end, no route out: nothing can reach outside, and dockerd's bridges
# and iptables rules die with the namespace), on its own socket, data root,
# exec root and cgroup parent, and is made a one-node swarm with
# `docker swarm init --advertise-addr $ADDR`. dockerd gets `--bip
# 172.31.0.1/24` and DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 (its agent would
# otherwise try to pull bb:latest from Docker Hub for every task). Per round
# and daemon, timed with the stock docker CLI and bench/svcwait.py (which
# polls the API socket every 50 ms, the same way for both; the clock includes
# the CLI command):
#   create   service create -d --no-resolve-image --replicas 10 S  -> 10/10
#   scale    service scale -d S=30                                  -> 30/30
#   update   service update -d --env-add X=1 --update-parallelism 10
#            --update-delay 0s S         -> UpdateStatus completed, 30/30
#   update1  the same with --env-add X=2 --update-monitor 1ms: both wait
#            the monitor period (5 s by default; an API Monitor of 0 means the
#            default) after the last batch before they say "completed", so
#            this is the time of the rolling itself
#   rm       service rm S -> no running task container (and: none at all)
# and VmRSS with 30 tasks running: the daemon, dockerd's containerd, and the
# per-container processes (shoal's monitors, containerd-shims: the parents of
# the task containers' PID 1). The task command exits on SIGTERM, so stopping
# costs the same on both. Median of ROUNDS rounds (default 3), the daemons
# taking turns going first. Usage: bench/service-converge.sh [ROUNDS]
# (root; after `make`). SVC_LOG_LEVEL=debug runs shoald with debug logs
# (kept in $SVC_KEEP_LOG if set).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)

ROUNDS=${1:-3}
ADDR=10.254.0.1
LOG_LEVEL=${SVC_LOG_LEVEL:-info}
TASK_CMD='trap "exit 0" TERM; sleep 100000 & wait'

bench_require_root
command -v nsenter >/dev/null || bench_die "nsenter missing"
ip netns list >/dev/null 2>&1 || bench_die "ip netns not available"
have_shoald || bench_die "no $SHOAL_BUILD/shoald (run make)"
[[ -x $DOCKERD_BIN ]] || bench_die "no $DOCKERD_BIN"
bench_workdir svc
TAG=${W##*.}
NS_S=sbs-$TAG-s
NS_D=sbs-$TAG-d
CG_S=shoalbench-$TAG-s
CG_D=shoalbench-$TAG
NETNS_MADE=()

# the root namespace's rules and links before, to check nothing leaked
snap_root() {
    {
        nft list ruleset 2>/dev/null || true
        iptables-save 2>/dev/null | grep -v '^#' || true
        ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort
    } >"$1"
}

svc_cleanup() {
    local ns
    set +e
    if [[ -n ${DOCKERD_SOCK:-} && -S $DOCKERD_SOCK ]]; then
        DOCKER_HOST=unix://$DOCKERD_SOCK timeout 60 "$DOCKER_BIN" swarm leave --force >/dev/null 2>&1
    fi
    if [[ -n ${SHOALD_SOCK:-} && -S $SHOALD_SOCK ]]; then
        DOCKER_HOST=unix://$SHOALD_SOCK timeout 60 "$DOCKER_BIN" swarm leave --force >/dev/null 2>&1
    fi
    bench_cleanup # containers, daemons (by pid), leftovers, mounts, $W
    for ns in "${NETNS_MADE[@]}"; do
        ip netns del "$ns" 2>/dev/null
    done
    for d in /sys/fs/cgroup/*/"$CG_S" /sys/fs/cgroup/*/"$CG_D"; do
        [[ -d $d ]] || continue
        find "$d" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
        rmdir "$d" 2>/dev/null || bench_log "could not remove cgroup $d"
    done
    if [[ -n ${ROOT_BEFORE:-} && -f $ROOT_BEFORE ]]; then
        snap_root "$ROOT_BEFORE.after"
        if ! cmp -s "$ROOT_BEFORE" "$ROOT_BEFORE.after"; then
            bench_log "the root namespace's rules/links changed during the run (someone else?):"
            diff "$ROOT_BEFORE" "$ROOT_BEFORE.after" >&2
        fi
        rm -f "$ROOT_BEFORE" "$ROOT_BEFORE.after"
    fi
}
trap svc_cleanup EXIT
ROOT_BEFORE=$(mktemp /tmp/sb-svc-root.XXXXXX)
snap_root "$ROOT_BEFORE"

mk_netns() {
    ip netns add "$1" || bench_die "ip netns add $1"
    NETNS_MADE+=("$1")
    ip -n "$1" link set lo up
    # a veth pair with both ends inside (this kernel has no dummy links)
    ip -n "$1" link add eth0 type veth peer name eth1
    ip -n "$1" addr add "$ADDR/24" dev eth0
    ip -n "$1" link set eth0 up
    ip -n "$1" link set eth1 up
}

start_shoald() {
    local d=$W/s
    mkdir -p "$d"
    SHOALD_SOCK=$d/s.sock
    # nsenter, not `ip netns exec`: its fresh /sys would hide the cgroup mounts
    nsenter --net="/run/netns/$NS_S" "$W/shoald" --data-root "$d/d" --exec-root "$d/r" \
        -H "unix://$SHOALD_SOCK" --cgroup-parent "$CG_S" --log-level "$LOG_LEVEL" \
        --listen-addr "$ADDR:2377" --advertise-addr "$ADDR" \
        </dev/null >"$d/shoald.log" 2>&1 &
    SHOALD_PID=$!
    BENCH_PIDS+=("$SHOALD_PID")
    bench_wait_ping "$SHOALD_SOCK" "$SHOALD_PID" || {
        tail -n 30 "$d/shoald.log" >&2
        bench_die "shoald did not start"
    }
}

start_dockerd() {
    local d=$W/d
    mkdir -p "$d"
    DOCKERD_SOCK=$d/d.sock
    nsenter --net="/run/netns/$NS_D" env DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 \
        "$DOCKERD_BIN" --data-root "$d/data" --exec-root "$d/exec" -H "unix://$DOCKERD_SOCK" \
        --pidfile "$d/d.pid" --bip 172.31.0.1/24 \
        --containerd-namespace shoalbench --containerd-plugins-namespace shoalbench-p \
        --cgroup-parent "/$CG_D" \
        </dev/null >"$d/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    BENCH_PIDS+=("$DOCKERD_PID")
    bench_wait_ping "$DOCKERD_SOCK" "$DOCKERD_PID" || {
        tail -n 30 "$d/dockerd.log" >&2
        bench_die "dockerd did not start"
    }
}

# dk SOCK ARGS... - the docker CLI on SOCK
dk() {
    local s=$1
    shift
    DOCKER_HOST=unix://$s timeout -k 5 120 "$DOCKER_BIN" "$@"
}

# swarm_up SOCK - import bb, swarm init, wait until the node is Ready
swarm_up() {
    local s=$1 i
    dk "$s" import "$BB_TAR" bb:latest >/dev/null
    dk "$s" swarm init --advertise-addr "$ADDR" >/dev/null
    for ((i = 0; i < 300; i++)); do
        [[ $(dk "$s" node ls --format '{{.Status}}' 2>/dev/null) == Ready ]] && return 0
        sleep 0.1
    done
    bench_die "the node on $s never became Ready"
}

# wt SOCK SERVICE COND [N] -- CMD... - svcwait.py
wt() {
    python3 "$here/svcwait.py" "$@"
}

# rss_tasks SOCK SERVICE - "COUNT KIB": the parents of the task containers' PID 1
rss_tasks() {
    local s=$1 svc=$2 ids pid pp tot=0 n=0
    local -A seen=()
    ids=$(dk "$s" ps -q --filter "label=com.docker.swarm.service.name=$svc")
    # shellcheck disable=SC2086
    for pid in $(dk "$s" inspect -f '{{.State.Pid}}' $ids); do
        pp=$(sed -E 's/^.*\) . ([0-9]+) .*/\1/' "/proc/$pid/stat" 2>/dev/null) || continue
        [[ -n ${seen[$pp]:-} ]] && continue
        seen[$pp]=1
        tot=$((tot + $(rss_kb "$pp")))
        n=$((n + 1))
    done
    echo "$n $tot"
}

declare -A T # T[daemon.step] = "ms ms ms"
add() {
    T[$1]="${T[$1]:-} $2"
}

# round WHO SOCK DAEMON_PID R
round() {
    local who=$1 s=$2 dpid=$3 r=$4 svc=bench$4 out n kib ctd
    local -a cli=(env "DOCKER_HOST=unix://$s" "DOCKER_CONFIG=$DOCKER_CONFIG" "$DOCKER_BIN")
    out=$(wt "$s" "$svc" replicas 10 -- "${cli[@]}" service create -d --no-resolve-image \
        --name "$svc" --replicas 10 --stop-grace-period 10s bb:latest sh -c "$TASK_CMD") ||
        bench_die "$who: create did not converge"
    add "$who.create" "$out"
    out=$(wt "$s" "$svc" replicas 30 -- "${cli[@]}" service scale -d "$svc=30") ||
        bench_die "$who: scale did not converge"
    add "$who.scale" "$out"
    sleep 1
    add "$who.rss_daemon" "$(rss_kb "$dpid")"
    read -r n kib < <(rss_tasks "$s" "$svc")
    [[ $n == 30 ]] || bench_log "$who: $n per-task processes for 30 tasks"
    add "$who.rss_tasks" "$kib"
    if [[ $who == dockerd ]]; then
        ctd=$(cat "$W/d/exec/containerd/containerd.pid" 2>/dev/null || true)
        [[ -n $ctd ]] && add containerd.rss "$(rss_kb "$ctd")"
    fi
    out=$(wt "$s" "$svc" updated 30 -- "${cli[@]}" service update -d --env-add X=1 \
        --update-parallelism 10 --update-delay 0s "$svc") ||
        bench_die "$who: update did not complete"
    add "$who.update" "$out"
    out=$(wt "$s" "$svc" updated 30 -- "${cli[@]}" service update -d --env-add X=2 \
        --update-parallelism 10 --update-delay 0s --update-monitor 1ms "$svc") ||
        bench_die "$who: update (monitor 1ms) did not complete"
    add "$who.update1" "$out"
    out=$(wt "$s" "$svc" gone -- "${cli[@]}" service rm "$svc") ||
        bench_die "$who: rm did not finish"
    add "$who.rm" "${out% *}"
    add "$who.rm_all" "${out#* }"
    bench_log "$who round $r: create ${T[$who.create]##* } scale ${T[$who.scale]##* }" \
        "update ${T[$who.update]##* } update1 ${T[$who.update1]##* } rm $out ms"
}

med() {
    # shellcheck disable=SC2086
    printf '%s\n' $1 | sort -n | awk '{a[NR] = $1} END {
        if (NR == 0) { print "n/a"; exit }
        if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

BB_TAR=$(bench_bb_tar)
# a copy: others may relink build/shoald while this runs
cp "$SHOAL_BUILD/shoald" "$W/shoald"
mk_netns "$NS_S"
mk_netns "$NS_D"
bench_log "starting shoald and dockerd (namespaces $NS_S, $NS_D)"
start_shoald
start_dockerd
swarm_up "$SHOALD_SOCK"
swarm_up "$DOCKERD_SOCK"
SHOALD_IDLE=$(rss_kb "$SHOALD_PID")
DOCKERD_IDLE=$(rss_kb "$DOCKERD_PID")

# warm-up (first container of each daemon, page cache): not counted
for s in "$SHOALD_SOCK" "$DOCKERD_SOCK"; do
    wt "$s" warm replicas 2 -- env "DOCKER_HOST=unix://$s" "$DOCKER_BIN" service create -d \
        --no-resolve-image --name warm --replicas 2 bb:latest sh -c "$TASK_CMD" >/dev/null ||
        bench_die "warm-up on $s did not converge"
    wt "$s" warm gone -- env "DOCKER_HOST=unix://$s" "$DOCKER_BIN" service rm warm >/dev/null ||
        bench_die "warm-up rm on $s did not finish"
done

for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then
        round shoald "$SHOALD_SOCK" "$SHOALD_PID" "$r"
        round dockerd "$DOCKERD_SOCK" "$DOCKERD_PID" "$r"
    else
        round dockerd "$DOCKERD_SOCK" "$DOCKERD_PID" "$r"
        round shoald "$SHOALD_SOCK" "$SHOALD_PID" "$r"
    fi
done
SHOALD_HWM=$(awk '/^VmHWM:/ {print $2}' "/proc/$SHOALD_PID/status")
DOCKERD_HWM=$(awk '/^VmHWM:/ {print $2}' "/proc/$DOCKERD_PID/status")
if [[ -n ${SVC_KEEP_LOG:-} ]]; then
    cp "$W/s/shoald.log" "$SVC_KEEP_LOG"
    cp "$W/d/dockerd.log" "$SVC_KEEP_LOG.dockerd"
fi

printf '\nService convergence, single-node swarm, median of %d rounds (ms)\n' "$ROUNDS"
printf '%-34s %10s %10s %8s\n' step shoald dockerd ratio
row() {
    local a b
    a=$(med "${T[shoald.$1]:-}")
    b=$(med "${T[dockerd.$1]:-}")
    printf '%-34s %10s %10s %8s\n' "$2" "$a" "$b" \
        "$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }')"
    bench_result "svc.shoald.$1_ms" "$a"
    bench_result "svc.dockerd.$1_ms" "$b"
}
row create "create, 10 replicas -> 10/10"
row scale "scale 10 -> 30 -> 30/30"
row update "update --env-add, parallelism 10"
row update1 "  the same, --update-monitor 1ms"
row rm "rm -> no running task container"
row rm_all "rm -> no task container at all"
kib() { awk -v k="$1" 'BEGIN { if (k == "n/a" || k == "") print "n/a"; else printf "%.1f", k / 1024 }'; }
printf '\nVmRSS with 30 tasks running, median (MiB)\n'
printf '%-34s %10s\n' "shoald (idle after init: $(kib "$SHOALD_IDLE"))" "$(kib "$(med "${T[shoald.rss_daemon]}")")"
printf '%-34s %10s\n' "shoal monitors, sum of 30" "$(kib "$(med "${T[shoald.rss_tasks]}")")"
printf '%-34s %10s\n' "dockerd (idle after init: $(kib "$DOCKERD_IDLE"))" "$(kib "$(med "${T[dockerd.rss_daemon]}")")"
printf '%-34s %10s\n' "containerd" "$(kib "$(med "${T[containerd.rss]:-}")")"
printf '%-34s %10s\n' "containerd-shims, sum of 30" "$(kib "$(med "${T[dockerd.rss_tasks]}")")"
printf '%-34s %10s %10s\n' "peak daemon RSS (VmHWM) shoald/dockerd" "$(kib "$SHOALD_HWM")" "$(kib "$DOCKERD_HWM")"
bench_result svc.shoald.rss_kib "$(med "${T[shoald.rss_daemon]}")"
bench_result svc.shoald.monitors_kib "$(med "${T[shoald.rss_tasks]}")"
bench_result svc.dockerd.rss_kib "$(med "${T[dockerd.rss_daemon]}")"
bench_result svc.containerd.rss_kib "$(med "${T[containerd.rss]:-}")"
bench_result svc.dockerd.shims_kib "$(med "${T[dockerd.rss_tasks]}")"
