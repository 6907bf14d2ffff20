#!/bin/bash
# bench/run.sh - run every benchmark and print a summary the README can quote.
# `make bench` runs this. Never part of `make test`.
# Usage: bench/run.sh [RUNS]   (start-latency runs per system, default 50)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RESULTS=$(mktemp /tmp/shoal-bench-results.XXXXXX)
trap 'rm -f "$RESULTS"' EXIT
export BENCH_RESULTS=$RESULTS

status=0
"$here/start-latency.sh" "${1:-50}" || status=1
"$here/memory.sh" || status=1
"$here/exec-logs.sh" "${1:-50}" 100 || status=1
"$here/pull.sh" 5 || status=1
"$here/net.sh" 3 || status=1
"$here/service-converge.sh" 3 || status=1

declare -A V
while read -r k v; do
    V[$k]=$v
done <"$RESULTS"
v() {
    echo "${V[$1]:-n/a}"
}
mib() {
    local k=${V[$1]:-}
    if [[ -z $k ]]; then echo n/a; else awk -v k="$k" 'BEGIN { printf "%.1f MiB", k / 1024 }'; fi
}

cat <<SUMMARY

## Summary ($(date -u +%Y-%m-%d), $(uname -r), $(nproc) cores)

| start latency (/bin/true, --rm) | median ms | p90 ms |
|---|---|---|
| crun run (floor)                | $(v start.crun.median_ms) | $(v start.crun.p90_ms) |
| shoal run -> shoald             | $(v start.shoal.median_ms) | $(v start.shoal.p90_ms) |
| docker run -> shoald            | $(v start.docker-shoald.median_ms) | $(v start.docker-shoald.p90_ms) |
| docker run -> dockerd 20.10     | $(v start.docker-dockerd.median_ms) | $(v start.docker-dockerd.p90_ms) |

| memory (VmRSS)                   | shoal | docker |
|---|---|---|
| daemon idle                      | $(mib mem.shoald.idle_kib) | $(mib mem.dockerd.idle_kib) (+ containerd $(mib mem.containerd.idle_kib)) |
| daemon after 20 runs             | $(mib mem.shoald.after_kib) | $(mib mem.dockerd.after_kib) |
| per running container            | $(mib mem.shoald.monitor_kib) (monitor) | $(mib mem.dockerd.monitor_kib) (containerd-shim) |

| single-node swarm service (median ms) | shoald | dockerd 20.10 |
|---|---|---|
| create 10 replicas -> 10/10      | $(v svc.shoald.create_ms) | $(v svc.dockerd.create_ms) |
| scale to 30 -> 30/30             | $(v svc.shoald.scale_ms) | $(v svc.dockerd.scale_ms) |
| update --env-add (parallelism 10) | $(v svc.shoald.update_ms) | $(v svc.dockerd.update_ms) |
| the same, --update-monitor 1ms   | $(v svc.shoald.update1_ms) | $(v svc.dockerd.update1_ms) |
| rm -> no running task container  | $(v svc.shoald.rm_ms) | $(v svc.dockerd.rm_ms) |
| RSS, 30 tasks: daemon            | $(mib svc.shoald.rss_kib) | $(mib svc.dockerd.rss_kib) (+ containerd $(mib svc.containerd.rss_kib)) |
| RSS, 30 tasks: per-task processes | $(mib svc.shoald.monitors_kib) (monitors) | $(mib svc.dockerd.shims_kib) (shims) |

| registry pull (median s)         | shoald | dockerd 20.10 | ratio |
|---|---|---|---|
| pull                             | $(v pull.shoald.s) | $(v pull.dockerd.s) | $(v pull.ratio) |
| pull + sync                      | $(v pull.shoald_sync.s) | $(v pull.dockerd_sync.s) | |
| RSS above idle during the pull   | $(v pull.shoald.rss_mib) MiB | | |

| network                          | shoal | reference |
|---|---|---|
| iperf3 container->container      | $(v net.bridge.gbits) Gbit/s ($(v net.bridge_vs_veth.pct)% per round) | veth pair $(v net.veth.gbits) Gbit/s |
| iperf3 host->127.0.0.1 published | $(v net.published.gbits) Gbit/s | |
| conn/s, busybox httpd            | $(v net.conn.shoal) | dockerd $(v net.conn.docker) |
| conn/s, accept loop              | $(v net.conn_accept.shoal) | dockerd $(v net.conn_accept.docker) |
SUMMARY
exit "$status"
