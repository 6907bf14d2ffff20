#!/bin/bash
# bench/lib.sh - shared pieces of the benchmarks (sourced, not run).
#
# Each benchmark works in its own temp dir $W, starts its own daemons on their
# own sockets and data roots, and removes everything on exit (bench_cleanup
# runs from an EXIT trap). Daemons are stopped by pid only.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHOAL_BUILD=${SHOAL_BUILD:-build}
case $SHOAL_BUILD in
/*) ;;
*) SHOAL_BUILD=$REPO_ROOT/$SHOAL_BUILD ;;
esac
DOCKER_BIN=${DOCKER_BIN:-/usr/local/bin/docker}
DOCKERD_BIN=${DOCKERD_BIN:-/usr/sbin/dockerd}
# pids of the daemons we started, stopped by bench_cleanup
BENCH_PIDS=()

bench_log() {
    echo "bench: $*" >&2
}

bench_die() {
    echo "bench: error: $*" >&2
    exit 1
}

bench_require_root() {
    [[ $(id -u) -eq 0 ]] || bench_die "benchmarks need root"
}

# bench_workdir NAME - create $W and install the cleanup trap
bench_workdir() {
    W=$(mktemp -d "/tmp/sb-$1.XXXXXX") # short: shoald limits the exec-root length
    chmod 0711 "$W"
    export DOCKER_CONFIG=$W/docker-config
    mkdir -p "$DOCKER_CONFIG"
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_bb_tar() {
    "$REPO_ROOT/tests/lib/mkrootfs.sh" "$REPO_ROOT/build/test/bb.tar"
}

pid_alive() {
    local st
    [[ -r /proc/$1/stat ]] || return 1
    st=$(sed -E 's/^.*\) (.).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $st && $st != Z ]]
}

# bench_wait_ping SOCK PID - wait until the daemon answers (max 30 s)
bench_wait_ping() {
    local sock=$1 pid=$2 i
    for ((i = 0; i < 300; i++)); do
        pid_alive "$pid" || return 1
        if curl -fsS --unix-socket "$sock" --max-time 2 http://d/_ping >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# bench_start_dockerd DIR - start a private dockerd; sets DOCKERD_PID, DOCKERD_SOCK
bench_start_dockerd() {
    local d=$1
    mkdir -p "$d"
    DOCKERD_SOCK=$d/d.sock
    "$DOCKERD_BIN" --data-root "$d/data" --exec-root "$d/exec" -H "unix://$DOCKERD_SOCK" \
        --pidfile "$d/d.pid" --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
        --containerd-namespace shoalbench --containerd-plugins-namespace shoalbench-p \
        --cgroup-parent "/shoalbench-${W##*.}" \
        </dev/null >"$d/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    BENCH_PIDS+=("$DOCKERD_PID")
    bench_wait_ping "$DOCKERD_SOCK" "$DOCKERD_PID" || {
        tail -n 30 "$d/dockerd.log" >&2
        bench_die "dockerd did not start"
    }
}

# bench_start_shoald DIR - start shoald; sets SHOALD_PID, SHOALD_SOCK
bench_start_shoald() {
    local d=$1
    mkdir -p "$d"
    SHOALD_SOCK=$d/s.sock
    "$SHOAL_BUILD/shoald" --data-root "$d/d" --exec-root "$d/r" -H "unix://$SHOALD_SOCK" --registry-allow 127.0.0.1 \
        </dev/null >"$d/shoald.log" 2>&1 &
    SHOALD_PID=$!
    BENCH_PIDS+=("$SHOALD_PID")
    bench_wait_ping "$SHOALD_SOCK" "$SHOALD_PID" || {
        tail -n 30 "$d/shoald.log" >&2
        bench_log "shoald did not start"
        return 1
    }
}

have_shoald() {
    [[ -x $SHOAL_BUILD/shoald ]]
}

have_shoal_cli() {
    [[ -x $SHOAL_BUILD/shoal ]]
}

# bench_stop_pid PID - SIGTERM, SIGKILL after 20 s
bench_stop_pid() {
    local pid=$1 i
    pid_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 200; i++)); do
        pid_alive "$pid" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# bench_rm_all SOCK - remove every container of the daemon on SOCK
bench_rm_all() {
    local ids
    ids=$(DOCKER_HOST=unix://$1 "$DOCKER_BIN" ps -aq 2>/dev/null) || return 0
    if [[ -n $ids ]]; then
        # shellcheck disable=SC2086
        DOCKER_HOST=unix://$1 "$DOCKER_BIN" rm -f $ids >/dev/null 2>&1 || true
    fi
}

bench_cleanup() {
    local pid line target d
    [[ -n ${W:-} && -d $W ]] || return 0
    [[ -n ${DOCKERD_SOCK:-} ]] && bench_rm_all "$DOCKERD_SOCK"
    [[ -n ${SHOALD_SOCK:-} ]] && bench_rm_all "$SHOALD_SOCK"
    for pid in "${BENCH_PIDS[@]}"; do
        bench_stop_pid "$pid"
    done
    # anything left with our work dir in its command line is ours
    while read -r pid line; do
        [[ $line == *"$W"* && $pid != "$$" ]] || continue
        bench_log "killing leftover $pid: $line"
        kill -KILL "$pid" 2>/dev/null || true
    done < <(ps -eo pid=,args=)
    while read -r target; do
        [[ -n $target ]] && umount -l "$target" 2>/dev/null
    done < <(findmnt -rn -o TARGET | awk -v w="$W" 'index($0, w) == 1' | sort -r)
    for d in /sys/fs/cgroup/*/"shoalbench-${W##*.}"; do
        [[ -d $d ]] && rmdir "$d" 2>/dev/null
    done
    rm -rf "$W"
}

# bench_hyperfine NAME RUNS CMD - time CMD (no shell) RUNS times; prints
# "median_ms p90_ms" and keeps the JSON in $W/NAME.json
bench_hyperfine() {
    local name=$1 runs=$2
    shift 2
    hyperfine -N --style basic --warmup 3 --runs "$runs" \
        --export-json "$W/$name.json" "$*" >"$W/$name.txt" 2>&1 || {
        cat "$W/$name.txt" >&2
        return 1
    }
    bench_stats "$W/$name.json"
}

# bench_stats FILE.json - "median_ms p90_ms" of a hyperfine export
bench_stats() {
    python3 - "$1" <<'PY'
import json, sys
times = sorted(json.load(open(sys.argv[1]))["results"][0]["times"])
n = len(times)
med = times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2
p90 = times[min(n - 1, int(round(0.9 * (n - 1))))]
print(f"{med * 1000:.1f} {p90 * 1000:.1f}")
PY
}

# rss_kb PID - VmRSS in kB
rss_kb() {
    awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

# bench_result KEY VALUE - record a number for bench/run.sh's summary
bench_result() {
    if [[ -n ${BENCH_RESULTS:-} ]]; then
        echo "$1 $2" >>"$BENCH_RESULTS"
    fi
}
