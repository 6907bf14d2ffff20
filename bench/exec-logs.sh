#!/bin/bash
# bench/exec-logs.sh - exec round trip and log throughput, shoald vs dockerd.
#
#   exec     median/p90 of `docker exec c true` (hyperfine, RUNS runs) against
#            shoald and against a private Debian dockerd, in the same run
#   logs     a container writes LOG_MB MiB to stdout; time until it exits, then
#            the time of `docker logs c > /dev/null`; the daemon's and the
#            monitor's VmRSS are sampled while it runs (peak above the start)
# Usage: bench/exec-logs.sh [RUNS] [LOG_MB]     (defaults 50, 100)
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

RUNS=${1:-${BENCH_RUNS:-50}}
LOG_MB=${2:-100}
bench_require_root
command -v hyperfine >/dev/null || bench_die "hyperfine not installed (scripts/install-deps.sh --bench)"
bench_workdir execlogs
BB_TAR=$(bench_bb_tar)

declare -A MED P90 WRITE READ DRSS MRSS

now_ms() {
    date +%s%3N
}

# sample_peak PID... - prints the peak VmRSS (kB) of each pid until $W/stop exists
sample_peak() {
    local -a peak=()
    local i v
    while [[ ! -e $W/stop ]]; do
        i=0
        for p in "$@"; do
            v=$(rss_kb "$p" 2>/dev/null || echo 0)
            ((v > ${peak[i]:-0})) && peak[i]=$v
            i=$((i + 1))
        done
        sleep 0.05
    done
    echo "${peak[@]}"
}

run_daemon() {
    local name=$1 sock=$2 dpid=$3 base mon=0 t0 t1
    export DOCKER_HOST=unix://$sock
    "$DOCKER_BIN" import "$BB_TAR" bb:latest >/dev/null
    "$DOCKER_BIN" run -d --name ex --network none bb sleep 100000 >/dev/null
    "$DOCKER_BIN" exec ex true
    bench_log "timing exec on $name ($RUNS runs)"
    if stats=$(bench_hyperfine "exec-$name" "$RUNS" "$DOCKER_BIN" exec ex true); then
        read -r "MED[$name]" "P90[$name]" <<<"$stats"
    fi
    if [[ $name == shoald ]] && have_shoal_cli; then
        bench_log "timing shoal exec on shoald ($RUNS runs)"
        if stats=$(bench_hyperfine exec-shoal "$RUNS" "$SHOAL_BUILD/shoal" -H "unix://$sock" \
            exec ex true); then
            read -r "MED[shoal]" "P90[shoal]" <<<"$stats"
        fi
    fi
    # log throughput: LOG_MB MiB of 1 KiB lines
    "$DOCKER_BIN" create --name lg --network none bb sh -c \
        "head -c $((LOG_MB * 1024 * 1024)) /dev/zero | tr '\\0' 'x' | fold -w 1023" >/dev/null
    base=$(rss_kb "$dpid")
    rm -f "$W/stop"
    t0=$(now_ms)
    "$DOCKER_BIN" start lg >/dev/null
    # the monitor (shoald) or the shim (dockerd) is the parent of the container's init
    local cpid
    cpid=$("$DOCKER_BIN" inspect -f '{{.State.Pid}}' lg 2>/dev/null || echo 0)
    if [[ $cpid != 0 && -e /proc/$cpid ]]; then
        mon=$(awk '{print $4}' "/proc/$cpid/stat" 2>/dev/null || echo 0)
    fi
    sample_peak "$dpid" "${mon:-0}" >"$W/peaks-$name" &
    local sp=$!
    "$DOCKER_BIN" wait lg >/dev/null
    t1=$(now_ms)
    WRITE[$name]=$((t1 - t0))
    t0=$(now_ms)
    "$DOCKER_BIN" logs lg >/dev/null 2>&1
    t1=$(now_ms)
    READ[$name]=$((t1 - t0))
    touch "$W/stop"
    wait "$sp" || true
    read -r dpeak mpeak <"$W/peaks-$name" || true
    DRSS[$name]=$(((${dpeak:-0} - base) / 1024))
    MRSS[$name]=$((${mpeak:-0} / 1024))
    unset DOCKER_HOST
    bench_rm_all "$sock"
}

if have_shoald && bench_start_shoald "$W/s"; then
    run_daemon shoald "$SHOALD_SOCK" "$SHOALD_PID"
    bench_stop_pid "$SHOALD_PID"
fi
if [[ -x $DOCKERD_BIN ]]; then
    bench_start_dockerd "$W/dockerd"
    run_daemon dockerd "$DOCKERD_SOCK" "$DOCKERD_PID"
    bench_stop_pid "$DOCKERD_PID"
fi

printf '\nexec round trip (docker exec ex true), %d runs each\n' "$RUNS"
printf '%-26s %10s %10s\n' client "median ms" "p90 ms"
printf '%-26s %10s %10s\n' "shoal exec -> shoald" "${MED[shoal]:--}" "${P90[shoal]:--}"
printf '%-26s %10s %10s\n' "docker exec -> shoald" "${MED[shoald]:--}" "${P90[shoald]:--}"
printf '%-26s %10s %10s\n' "docker exec -> dockerd" "${MED[dockerd]:--}" "${P90[dockerd]:--}"
if [[ -n ${MED[shoal]:-} && -n ${MED[dockerd]:-} ]]; then
    printf 'docker->dockerd / shoal->shoald: %.1fx\n' "$(echo "${MED[dockerd]} / ${MED[shoal]}" | bc -l)"
    bench_result exec_shoal_ms "${MED[shoal]}"
    bench_result exec_dockerd_ms "${MED[dockerd]}"
fi
printf '\nlogs: a container writes %d MiB to stdout\n' "$LOG_MB"
printf '%-10s %12s %12s %18s %18s\n' daemon "run ms" "logs ms" "daemon RSS +MiB" "monitor/shim MiB"
for n in shoald dockerd; do
    printf '%-10s %12s %12s %18s %18s\n' "$n" "${WRITE[$n]:--}" "${READ[$n]:--}" \
        "${DRSS[$n]:--}" "${MRSS[$n]:--}"
done
