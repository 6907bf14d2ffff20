# tests/cluster/lib.bash - harness for the multi-node bats suite (issue 4).
#
# Every test file runs its own little data centre on this machine:
#
#   switch   network namespace shoal-sw-$ID holding bridge br0 (no address)
#   host N   network namespace shoal-h$ID-N, veth eth0 <-> hN on br0,
#            address $CL_NET.N/24, lo up, no default route; shoald runs in it
#            (in its own UTS namespace, hostname hN) with its own data root,
#            exec root and API socket under $T/hN.
#
# $ID is the pid of the bats process that set the network up; the /24 is
# derived from it so parallel runs do not clash. Nothing is created in the root
# network namespace. Usage from a .bats file:
#
#   load lib
#   setup_file()    { cluster_setup_file 5; }   # root + ip netns, or every test skips
#   teardown_file() { cluster_down; }
#   (setup() and teardown() are defined here: skip when unsupported, and
#    print the tail of every host's log when a test failed)
#
# Helpers: on N CMD... (DOCKER_HOST of host N), host_up/host_start/host_stop/
# host_kill/host_restart N, host_partition/host_heal N, host_addr N,
# (teardown heals any partition a failed test left), retry N DELAY CMD...,
# leader_of [N...], leaders_agree N..., wait_ready COUNT [N] [SECS], node_id N,
# record_id N, swarm_form MANAGERS WORKERS, hosts_import_bb N..., curl_host N ARGS...,
# now_ms; docker, retry, json_get and pid_alive come from tests/lib/common.bash.
# Helper programs: apiload.py (replicated label writes, also used by
# bench/raft-vs-etcd.sh) and peerprobe.py (hostile cluster-port peer).
# Known bugs get a test in tests/cluster/pending/ (load ../lib), which
# `make test` does not run, until they are fixed.

bats_require_minimum_version 1.5.0

CL_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$CL_LIB_DIR/../.." && pwd)
SHOAL_BUILD=${SHOAL_BUILD:-build}
case $SHOAL_BUILD in
/*) ;;
*) SHOAL_BUILD=$REPO_ROOT/$SHOAL_BUILD ;;
esac
DOCKER_BIN=${DOCKER_BIN:-/usr/local/bin/docker}
CL_START_TIMEOUT=${CL_START_TIMEOUT:-30}
CL_STOP_TIMEOUT=${CL_STOP_TIMEOUT:-20}
SUITE_CMD_TIMEOUT=${SUITE_CMD_TIMEOUT:-60}
export SHOAL_BUILD REPO_ROOT DOCKER_BIN SUITE_CMD_TIMEOUT
# shellcheck source=tests/lib/common.bash
source "$REPO_ROOT/tests/lib/common.bash"

# ---------------------------------------------------------------- small tools

# on N CMD... - run CMD with DOCKER_HOST/SHOAL_HOST/SOCK pointing at host N.
on() {
    local n=$1
    shift
    DOCKER_HOST=unix://$T/h$n/s.sock SHOAL_HOST=unix://$T/h$n/s.sock SOCK=$T/h$n/s.sock "$@"
}

# curl_host N CURL-ARGS... - curl on host N's API socket (path is the last arg).
curl_host() {
    local n=$1
    shift
    command curl --unix-socket "$T/h$n/s.sock" --max-time 30 "$@"
}

# now_ms - wall clock in milliseconds
now_ms() {
    local t
    t=$(date +%s%N)
    echo $((t / 1000000))
}

# ---------------------------------------------------------------- names

host_ns() { echo "shoal-h$CL_ID-$1"; }
host_addr() { echo "$CL_NET.$1"; }
host_pid() { if [[ -s $T/h$1/pid ]]; then cat "$T/h$1/pid"; fi; }
host_log() { echo "$T/h$1/shoald.log"; }

# ---------------------------------------------------------------- network

# cluster_net_up - the switch: namespace shoal-sw-$ID with bridge br0.
cluster_net_up() {
    ip netns add "$CL_SW" || return 1
    echo "$CL_SW" >>"$T/netns"
    ip -n "$CL_SW" link set lo up &&
        ip -n "$CL_SW" link add br0 type bridge &&
        ip -n "$CL_SW" link set br0 up
}

# host_up N - namespace + veth into the switch + address, then start shoald.
host_up() {
    local n=$1 ns
    ns=$(host_ns "$n")
    mkdir -p "$T/h$n"
    ip netns add "$ns" || return 1
    echo "$ns" >>"$T/netns"
    ip -n "$CL_SW" link add "h$n" type veth peer name eth0 netns "$ns" &&
        ip -n "$CL_SW" link set "h$n" master br0 &&
        ip -n "$CL_SW" link set "h$n" up &&
        ip -n "$ns" link set lo up &&
        ip -n "$ns" addr add "$(host_addr "$n")/24" dev eth0 &&
        ip -n "$ns" link set eth0 up || return 1
    host_start "$n"
}

# host_partition N - cut host N off from every other host (an nftables table
# in host N's namespace dropping everything but loopback); host_heal N undoes it.
host_partition() {
    local ns
    ns=$(host_ns "$1")
    ip netns exec "$ns" nft -f - <<'EOF' || return 1
table inet shoal_partition {
    chain in { type filter hook input priority -200; policy accept; iifname != "lo" drop; }
    chain out { type filter hook output priority -200; policy accept; oifname != "lo" drop; }
}
EOF
    touch "$T/h$1/partitioned"
}

host_heal() {
    ip netns exec "$(host_ns "$1")" nft delete table inet shoal_partition || return 1
    rm -f "$T/h$1/partitioned"
}

# heal_all - undo every partition (a failed test must not leave one behind)
heal_all() {
    local f n
    for f in "$T"/h*/partitioned; do
        [[ -f $f ]] || continue
        n=${f%/partitioned}
        n=${n##*/h}
        echo "teardown: healing the partition of h$n"
        host_heal "$n"
    done
}

# ---------------------------------------------------------------- shoald

# Extra shoald flags for every host (e.g. heartbeat settings), word-split.
CL_SHOALD_ARGS=${CL_SHOALD_ARGS:-}

_host_argv() {
    local n=$1 addr
    addr=$(host_addr "$n")
    printf '%s\n' "$SHOAL_BUILD/shoald" --data-root "$T/h$n/d" --exec-root "$T/h$n/r" \
        -H "unix://$T/h$n/s.sock" --log-level debug --registry-allow 127.0.0.1
    if [[ $CL_HAVE_CLUSTER == 1 ]]; then
        printf '%s\n' --listen-addr "$addr:2377" --advertise-addr "$addr"
    fi
    local a
    for a in $CL_SHOALD_ARGS; do
        printf '%s\n' "$a"
    done
}

# host_start N - start host N's shoald (same flags and dirs every time) and
# wait for /_ping.
host_start() {
    local n=$1 pid i ns log
    local -a argv
    ns=$(host_ns "$n")
    log=$(host_log "$n")
    pid=$(host_pid "$n")
    if [[ -n $pid ]] && pid_alive "$pid"; then
        echo "host_start: shoald of h$n (pid $pid) is still running" >&2
        return 1
    fi
    mapfile -t argv < <(_host_argv "$n")
    echo "=== start $(date +%T.%N): ${argv[*]}" >>"$log"
    # nsenter (the host's network namespace; not `ip netns exec`, whose fresh
    # /sys hides the cgroup mounts) -> unshare (own hostname) -> sh -> exec
    # shoald: one pid. fd 3 is bats' output channel: the daemon must not keep it.
    nsenter --net="/run/netns/$ns" unshare --uts sh -c 'hostname "$0" && exec "$@"' "h$n" "${argv[@]}" \
        </dev/null >>"$log" 2>&1 3>&- &
    pid=$!
    disown "$pid"
    echo "$pid" >"$T/h$n/pid"
    echo "$pid" >>"$T/pids"
    for ((i = 0; i < CL_START_TIMEOUT * 10; i++)); do
        if ! pid_alive "$pid"; then
            echo "shoald of h$n (pid $pid) exited during start-up" >&2
            tail -n 20 "$log" >&2
            return 1
        fi
        if [[ -S $T/h$n/s.sock ]] && curl -fsS --unix-socket "$T/h$n/s.sock" --max-time 2 \
            http://d/_ping >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    echo "shoald of h$n did not answer /_ping within ${CL_START_TIMEOUT}s" >&2
    tail -n 20 "$log" >&2
    return 1
}

# _wait_gone PID SECONDS
_wait_gone() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        pid_alive "$1" || return 0
        sleep 0.1
    done
    return 1
}

# host_stop N - SIGTERM, SIGKILL after CL_STOP_TIMEOUT seconds.
host_stop() {
    local n=$1 pid
    pid=$(host_pid "$n")
    [[ -n $pid ]] || return 0
    if pid_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        if ! _wait_gone "$pid" "$CL_STOP_TIMEOUT"; then
            echo "shoald of h$n (pid $pid) ignored SIGTERM; SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            _wait_gone "$pid" 5
        fi
    fi
    rm -f "$T/h$n/pid"
}

# host_kill N - SIGKILL host N's shoald (a crash).
host_kill() {
    local n=$1 pid
    pid=$(host_pid "$n")
    [[ -n $pid ]] || return 0
    echo "=== SIGKILL $(date +%T.%N)" >>"$(host_log "$n")"
    kill -KILL "$pid" 2>/dev/null || true
    _wait_gone "$pid" 5
    rm -f "$T/h$n/pid"
}

host_restart() {
    host_stop "$1" && host_start "$1"
}

# ---------------------------------------------------------------- swarm helpers

# node_id N - host N's swarm node id (from its own /info).
node_id() {
    on "$1" docker info --format '{{.Swarm.NodeID}}'
}

# _host_of_id ID - the host number whose recorded node id is ID
_host_of_id() {
    local f
    for f in "$T"/h*/id; do
        [[ -f $f ]] || continue
        if [[ $(<"$f") == "$1" ]]; then
            f=${f%/id}
            echo "${f##*/h}"
            return 0
        fi
    done
    return 1
}

# record_id N - remember host N's node id (used by leader_of)
record_id() {
    local id
    id=$(node_id "$1") && [[ -n $id ]] || return 1
    echo "$id" >"$T/h$1/id"
}

# leader_of [N...] - the host number of the Leader, as seen by the first of
# hosts N... (default: every live host) that answers `docker node ls`.
# shellcheck disable=SC2120
leader_of() {
    local n out id h
    local -a hosts=("$@")
    if ((${#hosts[@]} == 0)); then
        for h in "$T"/h*/pid; do
            [[ -f $h ]] || continue
            h=${h%/pid}
            hosts+=("${h##*/h}")
        done
    fi
    for n in "${hosts[@]}"; do
        out=$(on "$n" docker node ls --format '{{.ID}} {{.Hostname}} {{.ManagerStatus}}' 2>/dev/null) ||
            continue
        read -r id h _ < <(grep -E ' Leader$' <<<"$out") || continue
        if _host_of_id "$id"; then
            return 0
        fi
        if [[ $h =~ ^h([0-9]+)$ ]]; then
            echo "${BASH_REMATCH[1]}"
            return 0
        fi
    done
    return 1
}

# leaders_agree N... - every host N... names the same leader (printed)
leaders_agree() {
    local n l first=
    for n in "$@"; do
        l=$(leader_of "$n") || return 1
        [[ -z $first ]] && first=$l
        [[ $l == "$first" ]] || return 1
    done
    echo "$first"
}

# ready_count N - how many nodes host N's `docker node ls` shows Ready
ready_count() {
    local out
    out=$(on "$1" docker node ls --format '{{.Status}}' 2>/dev/null) || return 1
    grep -c '^Ready$' <<<"$out"
}

# wait_ready COUNT [N] [SECONDS] - until host N (default: the leader, else
# host 1) shows COUNT nodes Ready.
wait_ready() {
    local want=$1 n=${2:-} secs=${3:-30} i c
    for ((i = 0; i < secs * 4; i++)); do
        local h=$n
        [[ -n $h ]] || h=$(leader_of 2>/dev/null) || h=1
        c=$(ready_count "$h" 2>/dev/null) || c=-1
        [[ $c == "$want" ]] && return 0
        sleep 0.25
    done
    echo "wait_ready: wanted $want Ready, last count $c" >&2
    on "${n:-1}" docker node ls >&2 || true
    return 1
}

# swarm_form MANAGERS WORKERS - host 1 inits, hosts 2..MANAGERS join as
# managers, the next WORKERS hosts as workers; waits until all are Ready.
swarm_form() {
    local nm=$1 nw=$2 n mt wt
    on 1 docker swarm init --advertise-addr "$(host_addr 1)" >/dev/null || return 1
    record_id 1 || return 1
    mt=$(on 1 docker swarm join-token -q manager) || return 1
    wt=$(on 1 docker swarm join-token -q worker) || return 1
    for ((n = 2; n <= nm; n++)); do
        on "$n" docker swarm join --token "$mt" "$(host_addr 1):2377" >/dev/null || return 1
        record_id "$n" || return 1
    done
    for ((n = nm + 1; n <= nm + nw; n++)); do
        on "$n" docker swarm join --token "$wt" "$(host_addr 1):2377" >/dev/null || return 1
        record_id "$n" || return 1
    done
    wait_ready $((nm + nw)) 1 60
}

# hosts_import_bb N... - the busybox rootfs as bb:latest on each host N
hosts_import_bb() {
    local tar n
    tar=$("$REPO_ROOT/tests/lib/mkrootfs.sh" "$REPO_ROOT/build/test/bb.tar") || return 1
    for n in "$@"; do
        on "$n" docker import "$tar" bb:latest >/dev/null || return 1
    done
}

# ---------------------------------------------------------------- bats hooks

_cl_skip() {
    export CL_SKIP=$1
}

# cluster_setup_file NHOSTS - the switch and NHOSTS hosts, each running shoald.
cluster_setup_file() {
    local nhosts=${1:-3} n
    if [[ $(id -u) -ne 0 ]]; then
        _cl_skip "cluster tests need root"
        return 0
    fi
    if ! ip netns list >/dev/null 2>&1; then
        _cl_skip "ip netns is not available"
        return 0
    fi
    if [[ ! -x $SHOAL_BUILD/shoald ]]; then
        echo "$SHOAL_BUILD/shoald not built (run make)" >&2
        return 1
    fi
    CL_HAVE_CLUSTER=0
    if "$SHOAL_BUILD/shoald" --help 2>&1 | grep -q -- '--listen-addr'; then
        CL_HAVE_CLUSTER=1
    fi
    CL_ID=$$
    CL_NET=10.$((100 + CL_ID % 100)).$(((CL_ID / 100) % 250))
    CL_SW=shoal-sw-$CL_ID
    # short: shoald refuses exec roots longer than ~30 characters
    T=$(mktemp -d /tmp/sc.XXXX)
    chmod 0711 "$T"
    DOCKER_CONFIG=$T/cfg
    mkdir -p "$DOCKER_CONFIG"
    CL_NHOSTS=$nhosts
    export CL_ID CL_NET CL_SW T DOCKER_CONFIG CL_HAVE_CLUSTER CL_NHOSTS
    unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
    cluster_net_up || return 1
    for ((n = 1; n <= nhosts; n++)); do
        host_up "$n" || return 1
    done
}

cluster_setup() {
    if [[ -n ${CL_SKIP:-} ]]; then
        skip "$CL_SKIP"
    fi
}

setup() {
    cluster_setup
}

# host_logs_tail [LINES] - the last lines of every host's log
host_logs_tail() {
    local lines=${1:-30} f
    for f in "$T"/h*/shoald.log; do
        [[ -f $f ]] || continue
        echo "----- last $lines lines of $f -----"
        tail -n "$lines" "$f"
    done
}

cluster_teardown() {
    if [[ -z ${BATS_TEST_COMPLETED:-} && -n ${T:-} && -d $T && -z ${CL_SKIP:-} ]]; then
        touch "$T/failed"
        if [[ -n ${status:-} ]]; then
            echo "----- last run: status $status, output:"
            printf '%s\n' "${output:-}" | head -n 30
        fi
        host_logs_tail 25
    fi
    if [[ -n ${T:-} && -d $T ]]; then
        heal_all
    fi
}

teardown() {
    cluster_teardown
}

# cluster_down - remove everything this file created, then check that nothing
# is left; prints the hosts' logs (to the terminal) when a test failed or
# something leaked. Safe to call more than once and after a partial set-up.
cluster_down() {
    [[ -n ${T:-} && -d $T && -n ${CL_ID:-} ]] || return 0
    local problems=0 pid line ns f ids n target

    # 1. containers the daemons still know about
    for f in "$T"/h*/pid; do
        [[ -f $f ]] || continue
        n=${f%/pid}
        n=${n##*/h}
        pid=$(<"$f")
        pid_alive "$pid" || continue
        ids=$(SUITE_CMD_TIMEOUT=10 on "$n" docker ps -aq 2>/dev/null || true)
        if [[ -n $ids ]]; then
            # shellcheck disable=SC2086
            SUITE_CMD_TIMEOUT=20 on "$n" docker rm -f $ids >/dev/null 2>&1 || true
        fi
    done

    # 2. every shoald ever started: SIGTERM all, then SIGKILL the stubborn
    if [[ -s $T/pids ]]; then
        while read -r pid; do
            pid_alive "$pid" && kill -TERM "$pid" 2>/dev/null
        done <"$T/pids"
        while read -r pid; do
            if ! _wait_gone "$pid" "$CL_STOP_TIMEOUT"; then
                echo "teardown: shoald pid $pid ignored SIGTERM; SIGKILL" >&2
                problems=1
                kill -KILL "$pid" 2>/dev/null
                _wait_gone "$pid" 5
            fi
        done <"$T/pids"
    fi
    rm -f "$T"/h*/pid

    # 3. anything else running with $T in its command line, or inside one of
    #    our namespaces, is a leak: report it and kill it by pid
    while read -r pid line; do
        [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
        [[ $line == *"$T/"* ]] || continue
        echo "teardown: leftover process $pid: $line" >&2
        problems=1
        kill -KILL "$pid" 2>/dev/null || true
    done < <(ps -eo pid=,args= 2>/dev/null)
    if [[ -s $T/netns ]]; then
        while read -r ns; do
            for pid in $(ip netns pids "$ns" 2>/dev/null); do
                echo "teardown: leftover process $pid in $ns: $(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null)" >&2
                problems=1
                kill -KILL "$pid" 2>/dev/null || true
            done
        done <"$T/netns"
    fi

    # 4. namespaces (their veths, the bridge and nftables tables go with them)
    if [[ -s $T/netns ]]; then
        while read -r ns; do
            ip netns del "$ns" 2>/dev/null
        done <"$T/netns"
    fi

    # 5. mounts under $T, deepest first
    while read -r target; do
        [[ -n $target ]] || continue
        echo "teardown: leftover mount $target" >&2
        problems=1
        umount -l "$target" 2>/dev/null || true
    done < <(findmnt -rn -o TARGET | awk -v t="$T/" 'index($0, t) == 1' | sort -r)

    # 6. sanitizer reports (make check runs this suite on the ASan build)
    for f in "$T"/h*/shoald.log; do
        [[ -f $f ]] || continue
        if grep -q -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f"; then
            echo "teardown: sanitizer report in $f:" >&2
            grep -E -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f" | head -n 40 >&2
            problems=1
        fi
    done

    # 7. logs, when something went wrong (fd 3: bats shows it as is)
    if [[ -f $T/failed || $problems == 1 ]]; then
        {
            for f in "$T"/h*/shoald.log; do
                [[ -f $f ]] || continue
                echo "# ===== $f (last 80 lines)"
                tail -n 80 "$f" | sed 's/^/# /'
            done
        } >&3 2>/dev/null || true
        for f in "$T"/h*/shoald.log; do
            [[ -f $f ]] || continue
            line=${f%/shoald.log}
            cp "$f" "/tmp/shoal-cluster-failed-$(basename "${BATS_TEST_FILENAME:-x}" .bats)-${line##*/}.log" 2>/dev/null || true
        done
    fi
    rm -rf "$T" || {
        echo "teardown: could not remove $T" >&2
        problems=1
    }

    # 8. nothing of ours may be left
    if ip netns list 2>/dev/null | grep -E "^shoal-(sw-$CL_ID|h$CL_ID-[0-9]+)( |$)"; then
        echo "teardown: namespaces left" >&2
        problems=1
    fi
    if ip -o link show 2>/dev/null | grep -E ": (h[0-9]+|shb$CL_ID)[@:]"; then
        echo "teardown: links left in the root namespace" >&2
        problems=1
    fi
    if ps -eo pid=,args= | grep -v grep | grep -F -- "$T/"; then
        echo "teardown: processes left" >&2
        problems=1
    fi
    return "$problems"
}
