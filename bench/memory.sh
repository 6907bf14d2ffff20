#!/bin/bash
# bench/memory.sh - resident memory of the daemon and of the per-container
# process that babysits a running container.
#
#   shoald idle RSS              right after start (2 s settle)
#   shoald RSS after 20 runs     after 20 `docker run --rm bb true`
#   monitor RSS                  the parent of a running container's PID 1
# and the same for Debian's dockerd (+ its containerd) and containerd-shim.
# VmRSS from /proc/<pid>/status, in KiB. Usage: bench/memory.sh
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

RUNS=${BENCH_MEM_RUNS:-20}
bench_require_root
bench_workdir mem
BB_TAR=$(bench_bb_tar)

declare -A R

# measure PREFIX SOCK DAEMON_PID - fill R[PREFIX.*]
measure() {
    local p=$1 sock=$2 dpid=$3 i cpid mpid
    export DOCKER_HOST=unix://$sock
    "$DOCKER_BIN" import "$BB_TAR" bb:latest >/dev/null
    sleep 2
    R[$p.idle]=$(rss_kb "$dpid")
    for ((i = 0; i < RUNS; i++)); do
        "$DOCKER_BIN" run --rm --network none bb:latest true
    done
    sleep 1
    R[$p.after]=$(rss_kb "$dpid")
    "$DOCKER_BIN" run -d --network none --name memtest bb:latest sleep 1000 >/dev/null
    sleep 1
    cpid=$("$DOCKER_BIN" inspect -f '{{.State.Pid}}' memtest)
    mpid=$(awk '{print $4}' "/proc/$cpid/stat")
    R[$p.monitor]=$(rss_kb "$mpid")
    R[$p.monitor_name]=$(cat "/proc/$mpid/comm")
    R[$p.with_one]=$(rss_kb "$dpid")
    unset DOCKER_HOST
}

if have_shoald && bench_start_shoald "$W/s"; then
    measure shoald "$SHOALD_SOCK" "$SHOALD_PID"
    bench_rm_all "$SHOALD_SOCK"
    bench_stop_pid "$SHOALD_PID"
else
    bench_log "no working $SHOAL_BUILD/shoald: shoald rows skipped"
fi

if [[ -x $DOCKERD_BIN ]]; then
    bench_start_dockerd "$W/dockerd"
    measure dockerd "$DOCKERD_SOCK" "$DOCKERD_PID"
    # dockerd's private containerd is part of the cost of running containers
    ctd=$(cat "$W/dockerd/exec/containerd/containerd.pid" 2>/dev/null || true)
    if [[ -n $ctd ]] && pid_alive "$ctd"; then
        R[containerd.idle]=$(rss_kb "$ctd")
    fi
    bench_rm_all "$DOCKERD_SOCK"
    bench_stop_pid "$DOCKERD_PID"
fi

mib() {
    if [[ -z ${1:-} ]]; then
        echo n/a
    else
        awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
    fi
}

printf '\nResident memory (VmRSS, MiB; %d container runs)\n' "$RUNS"
printf '%-44s %10s\n' what MiB
row() {
    printf '%-44s %10s\n' "$1" "$(mib "${R[$2]:-}")"
    [[ -n ${R[$2]:-} ]] && bench_result "mem.$2_kib" "${R[$2]}"
    return 0
}
row "shoald idle" shoald.idle
row "shoald after $RUNS runs" shoald.after
row "shoald with 1 running container" shoald.with_one
row "shoald monitor per container" shoald.monitor
row "dockerd idle" dockerd.idle
row "dockerd after $RUNS runs" dockerd.after
row "dockerd with 1 running container" dockerd.with_one
row "containerd (dockerd's) with 1 container" containerd.idle
row "shim (${R[dockerd.monitor_name]:-n/a}) per container" dockerd.monitor
