#!/bin/bash
# scripts/demo.sh - the newcomer's first run: install the dependencies, build,
# then form a three-host shoal swarm on this machine and run a replicated
# service on it.
#
# Each "host" is a shoald in its own network namespace (shoal-demo<PID>-hN,
# address 10.231.0.N/24 on a veth into a bridge that lives in a fourth, switch
# namespace), with its own UTS namespace (hostname hN), data root, exec root,
# API socket and cgroup parent. Nothing is created in the root network
# namespace and no packet leaves the machine (the namespaces have no route out;
# shoald gets --registry-allow 127.0.0.1 and the service --no-resolve-image, so
# nothing even tries to reach a registry). h1 runs `swarm init`, h2 and h3 join
# as workers; a 6-replica service is created, scaled to 9 and removed.
#
# Everything it starts is stopped and removed on exit, also on failure and
# Ctrl-C: containers, the shoalds (by pid), leftover processes, mounts,
# cgroups, namespaces (and with them the veths and the bridge), temp files.
#
# The CLI is the stock docker CLI when /usr/local/bin/docker exists, else
# build/shoal (same syntax). DEMO_CLI=shoal|docker forces one;
# DEMO_SKIP_BUILD=1 skips install-deps and make.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [[ $(id -u) -ne 0 ]]; then
    echo "demo: run as root (shoald creates namespaces, mounts and cgroups)" >&2
    exit 1
fi
if [[ -z ${DEMO_SKIP_BUILD:-} ]]; then
    scripts/install-deps.sh
    make -j"$(nproc)"
fi

NHOSTS=3
NET=10.231.0                       # private /24, only inside our namespaces
TAG=shoal-demo$$                   # namespace names and cgroup parent
SW=$TAG-sw
CGPARENT=$TAG
T=$(mktemp -d /tmp/sd.XXXX)        # short: shoald limits the exec root length
chmod 0711 "$T"
export DOCKER_CONFIG=$T/cfg        # keep the docker CLI out of ~/.docker
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH SHOAL_HOST
mkdir -p "$DOCKER_CONFIG"
PIDS=()     # shoald pids, index = host number
NSLIST=()   # network namespaces we created
T0=$(date +%s%N)

case ${DEMO_CLI:-} in
docker) CLI=${DOCKER_BIN:-/usr/local/bin/docker} ;;
shoal) CLI=$ROOT/build/shoal ;;
*) if [[ -x /usr/local/bin/docker ]]; then CLI=/usr/local/bin/docker; else CLI=$ROOT/build/shoal; fi ;;
esac
CLI_NAME=$(basename "$CLI")

# ---------------------------------------------------------------- output

BOLD=$'\033[1m' DIM=$'\033[2m' OFF=$'\033[0m'
if [[ ! -t 1 ]]; then BOLD='' DIM='' OFF=''; fi
now_ms() { local t; t=$(date +%s%N); echo $((t / 1000000)); }
secs() { printf '%d.%d' $(($1 / 1000)) $((($1 % 1000) / 100)); } # ms -> "1.2"
header() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$OFF"; }
note() { printf '%s   %s%s\n' "$DIM" "$*" "$OFF"; }

# c N ARGS... - the CLI against host N, bounded so one hung request cannot hang the demo
c() {
    local n=$1
    shift
    timeout -k 5 60 "$CLI" -H "unix://$T/h$n/s.sock" "$@"
}
# show N ARGS... - print the command, then run it
show() {
    local n=$1
    shift
    local a line="$CLI_NAME"
    for a in "$@"; do
        [[ $a =~ [[:space:]{}] ]] && a="'$a'"
        line+=" $a"
    done
    printf '%s[h%s]$ %s%s\n' "$BOLD" "$n" "$line" "$OFF"
    c "$n" "$@"
}

# ---------------------------------------------------------------- teardown

pid_alive() {
    local st
    st=$(sed -E 's/^.*\) (.).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $st && $st != Z ]]
}
wait_gone() { # PID TENTHS
    local i
    for ((i = 0; i < $2; i++)); do
        pid_alive "$1" || return 0
        sleep 0.1
    done
    return 1
}

cleanup() {
    local rc=$? n pid ids ns f st left=0
    local -a crashed=()
    trap - EXIT INT TERM HUP
    set +e
    header "teardown"
    if ((rc == 130 || rc == 143)); then
        echo "demo: interrupted"
    elif ((rc != 0)); then
        echo "demo: failed (exit $rc); the last lines of each shoald log:"
        for f in "$T"/h*/shoald.log; do
            [[ -f $f ]] && { echo "--- $f"; tail -n 15 "$f"; }
        done
    fi
    # 1. containers (shoald leaves them running when it stops: live restore)
    for n in "${!PIDS[@]}"; do
        pid_alive "${PIDS[n]}" || continue
        ids=$(timeout 15 "$CLI" -H "unix://$T/h$n/s.sock" ps -aq 2>/dev/null)
        # shellcheck disable=SC2086
        [[ -n $ids ]] && timeout 30 "$CLI" -H "unix://$T/h$n/s.sock" rm -f $ids >/dev/null 2>&1
    done
    # 2. the shoalds: SIGTERM, SIGKILL after 15 s. bash's own "Segmentation
    #    fault ..." job notice goes to /dev/null (fd 4 keeps stderr); we report
    #    every shoald that did not exit 0 ourselves.
    exec 4>&2 2>/dev/null
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for n in "${!PIDS[@]}"; do
        pid=${PIDS[n]}
        if ! wait_gone "$pid" 150; then
            echo "demo: shoald of h$n (pid $pid) ignored SIGTERM; SIGKILL"
            kill -KILL "$pid" 2>/dev/null
            wait_gone "$pid" 50
        fi
        st=0
        { wait "$pid"; } 2>/dev/null || st=$?
        if ((st != 0)); then
            echo "demo: shoald of h$n exited with status $st$( ((st > 128)) && echo " (signal $((st - 128)))")"
            crashed+=("$n")
        fi
    done
    exec 2>&4 4>&-
    # 3. anything still in our cgroups or namespaces, or using our directory
    for f in /sys/fs/cgroup/*/"$CGPARENT"; do
        [[ -d $f ]] || continue
        while read -r pid; do
            [[ -n $pid ]] && { echo "demo: leftover process $pid"; kill -KILL "$pid" 2>/dev/null; left=1; }
        done < <(find "$f" -name cgroup.procs -exec cat {} + 2>/dev/null)
    done
    for ns in "${NSLIST[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            echo "demo: leftover process $pid in $ns"
            kill -KILL "$pid" 2>/dev/null
            left=1
        done
    done
    while read -r pid f; do
        [[ $pid != "$$" && $f == *"$T/"* ]] || continue
        echo "demo: leftover process $pid: $f"
        kill -KILL "$pid" 2>/dev/null
        left=1
    done < <(ps -eo pid=,args=)
    ((left)) && sleep 0.5
    # 4. namespaces (the veths and the bridge go with them)
    for ns in "${NSLIST[@]}"; do ip netns del "$ns" 2>/dev/null; done
    # 5. mounts under $T, deepest first
    findmnt -rn -o TARGET | awk -v t="$T/" 'index($0, t) == 1' | sort -r |
        while read -r f; do
            echo "demo: leftover mount $f"
            umount -l "$f"
        done
    # 6. cgroups, deepest first
    for f in /sys/fs/cgroup/*/"$CGPARENT"; do
        [[ -d $f ]] && find "$f" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    # keep the logs of a failed run or of a shoald that did not exit cleanly
    if ((rc != 0 && rc != 130 && rc != 143)); then crashed=("${!PIDS[@]}"); fi
    for n in "${crashed[@]}"; do
        cp "$T/h$n/shoald.log" "/tmp/$TAG-h$n.log" 2>/dev/null &&
            echo "demo: kept the log of h$n in /tmp/$TAG-h$n.log"
    done
    rm -rf "$T"
    # 7. check
    if ip netns list | grep -q "^$TAG-" || ls -d /sys/fs/cgroup/*/"$CGPARENT" >/dev/null 2>&1 ||
        [[ -e $T ]]; then
        echo "demo: WARNING: something was left behind ($TAG, $T)"
        ((rc == 0)) && rc=1
    else
        echo "stopped ${#PIDS[@]} shoalds, removed ${#NSLIST[@]} namespaces, $T and cgroup $CGPARENT: nothing left"
    fi
    local verdict="done"
    ((rc == 0)) || verdict=FAILED
    ((rc == 130 || rc == 143)) && verdict=interrupted
    printf '%sdemo: %s in %s s%s\n' "$BOLD" "$verdict" "$(secs $(($(now_ms) - T0 / 1000000)))" "$OFF"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---------------------------------------------------------------- hosts

# host_up N - namespace shoal-demo<PID>-hN wired to the switch, then shoald in it
host_up() {
    local n=$1 ns=$TAG-h$1 i
    mkdir -p "$T/h$n"
    ip netns add "$ns"
    NSLIST+=("$ns")
    ip -n "$SW" link add "h$n" type veth peer name eth0 netns "$ns"
    ip -n "$SW" link set "h$n" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$NET.$n/24" dev eth0
    ip -n "$ns" link set eth0 up
    # nsenter --net (not `ip netns exec`, whose private /sys hides the cgroup
    # mounts), unshare --uts for the hostname, then exec: $! is shoald's pid.
    # setsid: a Ctrl-C reaches the demo script only, which then tears down.
    # shellcheck disable=SC2016 # expanded by sh
    setsid nsenter --net="/run/netns/$ns" unshare --uts \
        sh -c 'hostname "$0" && exec "$@"' "h$n" \
        "$ROOT/build/shoald" --data-root "$T/h$n/d" --exec-root "$T/h$n/r" \
        -H "unix://$T/h$n/s.sock" --cgroup-parent "$CGPARENT/h$n" \
        --listen-addr "$NET.$n:2377" --advertise-addr "$NET.$n" --log-level info --registry-allow 127.0.0.1 \
        </dev/null >"$T/h$n/shoald.log" 2>&1 &
    PIDS[n]=$!
    for ((i = 0; i < 300; i++)); do
        pid_alive "${PIDS[n]}" || { echo "demo: shoald of h$n exited during start-up" >&2; return 1; }
        c "$n" version >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "demo: shoald of h$n did not answer within 30 s" >&2
    return 1
}

# ready_count N - nodes `node ls` on host N shows Ready
ready_count() {
    c "$1" node ls 2>/dev/null | grep -cw Ready || true
}
# replicas N SERVICE - the REPLICAS column of `service ls`
replicas() {
    c "$1" service ls --filter "name=$2" --format '{{.Replicas}}' 2>/dev/null || true
}
# running_on N SERVICE - task containers of SERVICE running on host N
running_on() {
    c "$1" ps -q --filter "label=com.docker.swarm.service.name=$2" 2>/dev/null | grep -c . || true
}
spread() {
    local n out=""
    for ((n = 1; n <= NHOSTS; n++)); do out+="h$n:$(running_on "$n" "$1") "; done
    echo "${out% }"
}
total_running() {
    local n sum=0
    for ((n = 1; n <= NHOSTS; n++)); do sum=$((sum + $(running_on "$n" "$1"))); done
    echo "$sum"
}
# converge SERVICE WANT - until the manager reports WANT/WANT and WANT task
# containers run across the hosts; prints the time it took
converge() {
    local svc=$1 want=$2 t i r=''
    t=$(now_ms)
    for ((i = 0; i < 600; i++)); do
        r=$(replicas 1 "$svc")
        if [[ $r == "$want/$want" && $(total_running "$svc") == "$want" ]]; then
            echo "${BOLD}converged $want/$want in $(secs $(($(now_ms) - t))) s${OFF} ($(spread "$svc"))"
            return 0
        fi
        sleep 0.1
    done
    echo "demo: $svc did not converge to $want within 60 s (replicas: $r)" >&2
    return 1
}

# ---------------------------------------------------------------- the demo

header "network: switch namespace $SW (bridge br0), hosts on $NET.0/24"
ip netns add "$SW"
NSLIST+=("$SW")
ip -n "$SW" link set lo up
ip -n "$SW" link add br0 type bridge
ip -n "$SW" link set br0 up

header "hosts: $NHOSTS shoalds, each in its own network and UTS namespace"
for ((n = 1; n <= NHOSTS; n++)); do
    t=$(now_ms)
    host_up "$n"
    printf 'h%d  %s.%d  pid %-7d  socket %s  up in %s s\n' "$n" "$NET" "$n" "${PIDS[n]}" \
        "$T/h$n/s.sock" "$(secs $(($(now_ms) - t)))"
done
note "client: $CLI"

header "image: busybox root filesystem imported as bb:latest on every host"
TAR=$(tests/lib/mkrootfs.sh "$T/bb.tar")
for ((n = 1; n <= NHOSTS; n++)); do
    id=$(c "$n" import "$TAR" bb:latest)
    echo "h$n: bb:latest ${id:0:19}"
done

header "swarm: h1 inits, h2 and h3 join as workers"
t=$(now_ms)
show 1 swarm init --advertise-addr "$NET.1"
TOKEN=$(c 1 swarm join-token -q worker)
printf '%s[h1]$ %s swarm join-token -q worker%s\n%s\n' "$BOLD" "$CLI_NAME" "$OFF" "$TOKEN"
for ((n = 2; n <= NHOSTS; n++)); do
    show "$n" swarm join --token "$TOKEN" "$NET.1:2377"
done
for ((i = 0; i < 300; i++)); do
    [[ $(ready_count 1) == "$NHOSTS" ]] && break
    sleep 0.1
done
[[ $(ready_count 1) == "$NHOSTS" ]] || { echo "demo: not every node became Ready" >&2; exit 1; }
echo "${BOLD}$NHOSTS nodes Ready in $(secs $(($(now_ms) - t))) s${OFF}"
show 1 node ls

header "service: 6 replicas of bb:latest"
show 1 service create -d --no-resolve-image --replicas 6 --name web bb:latest sleep 100000
converge web 6
show 1 service ls
show 1 service ps web

header "scale: web=9"
show 1 service scale -d web=9
converge web 9
header "spread: the task containers on each host's own socket"
for ((n = 1; n <= NHOSTS; n++)); do
    show "$n" ps --filter label=com.docker.swarm.service.name=web --format '{{.Names}}  {{.Status}}'
done

header "remove: service rm web"
t=$(now_ms)
show 1 service rm web
for ((i = 0; i < 600; i++)); do
    left=0
    for ((n = 1; n <= NHOSTS; n++)); do
        left=$((left + $(c "$n" ps -aq --filter label=com.docker.swarm.service.name=web 2>/dev/null | grep -c . || true)))
    done
    ((left == 0)) && break
    sleep 0.1
done
((left == 0)) || { echo "demo: $left task containers of web are still there" >&2; exit 1; }
echo "${BOLD}all 9 task containers gone in $(secs $(($(now_ms) - t))) s${OFF}"
note "(sleep runs as PID 1 and ignores SIGTERM: each task is killed after the 10 s stop grace period, as with Docker)"
show 1 service ls
