#!/bin/bash
# bench/start-latency.sh - end-to-end container start latency.
#
# Times (hyperfine, no shell, RUNS runs after 3 warm-ups) the whole life of a
# container running /bin/true from the busybox image:
#   crun          crun run of an OCI bundle of the same rootfs (the floor)
#   shoal+shoald  build/shoal run --rm --network none bb /bin/true
#   docker+shoald the stock docker CLI against shoald
#   docker+dockerd the stock docker CLI against a private Debian dockerd
# and prints median and p90 in ms and the ratio to crun.
# Every daemon is started here on its own socket and data root and stopped
# by pid at the end. Usage: bench/start-latency.sh [RUNS]   (default 50)
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

RUNS=${1:-${BENCH_RUNS:-50}}
((RUNS >= 10)) || bench_die "RUNS must be >= 10"
bench_require_root
command -v hyperfine >/dev/null || bench_die "hyperfine not installed (scripts/install-deps.sh --bench)"
bench_workdir start
BB_TAR=$(bench_bb_tar)

declare -A MED P90

record() {
    local name=$1 stats
    shift
    bench_log "timing $name ($RUNS runs): $*"
    if stats=$(bench_hyperfine "$name" "$RUNS" "$@"); then
        read -r "MED[$name]" "P90[$name]" <<<"$stats"
    else
        bench_log "$name failed"
    fi
}

# ---- crun
if command -v crun >/dev/null; then
    B=$W/bundle
    mkdir -p "$B/rootfs" "$W/crun-state"
    tar -xf "$BB_TAR" -C "$B/rootfs"
    (cd "$B" && crun spec)
    python3 - "$B/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
c["root"] = {"path": "rootfs", "readonly": True}
c["hostname"] = "bench"
json.dump(c, open(p, "w"), indent=1)
PY
    # crun refuses a hybrid cgroup host (cgroup2 mounted at
    # /sys/fs/cgroup/unified): hide that mount in a private mount namespace.
    # Never unmount it in the host namespace.
    export W RUNS B
    # shellcheck disable=SC2016  # expanded by the inner bash
    if stats=$(unshare -m --propagation private bash -c '
        set -euo pipefail
        source "$0"
        if findmnt -n /sys/fs/cgroup/unified >/dev/null 2>&1 &&
            findmnt -n /sys/fs/cgroup | grep -q tmpfs; then
            umount /sys/fs/cgroup/unified
        fi
        crun --root "$W/crun-state" run -b "$B" shoal-bench >/dev/null
        bench_hyperfine crun "$RUNS" crun --root "$W/crun-state" run -b "$B" shoal-bench
    ' "$REPO_ROOT/bench/lib.sh"); then
        read -r "MED[crun]" "P90[crun]" <<<"$stats"
    else
        bench_log "crun failed"
    fi
else
    bench_log "crun not installed: skipped"
fi

# ---- shoald (with our CLI and with the stock CLI)
if have_shoald && bench_start_shoald "$W/s"; then
    DOCKER_HOST=unix://$SHOALD_SOCK "$DOCKER_BIN" import "$BB_TAR" bb:latest >/dev/null
    if have_shoal_cli; then
        if "$SHOAL_BUILD/shoal" -H "unix://$SHOALD_SOCK" run --rm --network none bb /bin/true; then
            record shoal "$SHOAL_BUILD/shoal" -H "unix://$SHOALD_SOCK" run --rm --network none bb /bin/true
        else
            bench_log "shoal run against shoald failed: skipped"
        fi
    fi
    export DOCKER_HOST=unix://$SHOALD_SOCK
    if "$DOCKER_BIN" run --rm --network none bb /bin/true; then
        record docker-shoald "$DOCKER_BIN" run --rm --network none bb /bin/true
    else
        bench_log "docker run against shoald failed: skipped"
    fi
    unset DOCKER_HOST
    bench_rm_all "$SHOALD_SOCK"
    bench_stop_pid "$SHOALD_PID"
else
    bench_log "no working $SHOAL_BUILD/shoald: shoald rows skipped"
fi

# ---- dockerd
if [[ -x $DOCKERD_BIN ]]; then
    bench_start_dockerd "$W/dockerd"
    export DOCKER_HOST=unix://$DOCKERD_SOCK
    "$DOCKER_BIN" import "$BB_TAR" bb:latest >/dev/null
    "$DOCKER_BIN" run --rm --network none bb /bin/true
    record docker-dockerd "$DOCKER_BIN" run --rm --network none bb /bin/true
    unset DOCKER_HOST
    bench_rm_all "$DOCKERD_SOCK"
    bench_stop_pid "$DOCKERD_PID"
else
    bench_log "dockerd not installed: skipped"
fi

# ---- table
printf '\nContainer start latency, /bin/true, %d runs each (%s, %s cores)\n' \
    "$RUNS" "$(uname -r)" "$(nproc)"
printf '%-24s %10s %10s %10s\n' system "median ms" "p90 ms" "vs crun"
for name in crun shoal docker-shoald docker-dockerd; do
    label=$name
    case $name in
    shoal) label="shoal -> shoald" ;;
    docker-shoald) label="docker -> shoald" ;;
    docker-dockerd) label="docker -> dockerd" ;;
    esac
    if [[ -z ${MED[$name]:-} ]]; then
        printf '%-24s %10s %10s %10s\n' "$label" n/a n/a n/a
        continue
    fi
    ratio=n/a
    if [[ -n ${MED[crun]:-} ]]; then
        ratio=$(awk -v a="${MED[$name]}" -v b="${MED[crun]}" 'BEGIN { printf "%.1fx", a / b }')
    fi
    printf '%-24s %10s %10s %10s\n' "$label" "${MED[$name]}" "${P90[$name]}" "$ratio"
    bench_result "start.$name.median_ms" "${MED[$name]}"
    bench_result "start.$name.p90_ms" "${P90[$name]}"
done
