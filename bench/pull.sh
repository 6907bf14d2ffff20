#!/bin/bash
# bench/pull.sh - registry pull + extract: shoald vs Debian's dockerd, same image,
# same local registry, same run.
#
# Builds a multi-layer image (busybox + one layer per Debian package, unpacked with
# dpkg-deb) with umoci, pushes it to a docker-registry on 127.0.0.1 with skopeo, then
# runs ROUNDS rounds; each round times `docker pull` against shoald (a fresh data root
# every round) and against one dockerd started here on its own socket and data root
# (the image removed between rounds), alternating which daemon goes first. Before
# every timed pull: sync, drop the page cache (echo 3 > drop_caches), then read the
# registry's blobs back into the cache, so both daemons get the registry from memory
# and start with nothing of the previous round in the cache or dirty in writeback.
# Reported: the median of the rounds for "pull" (until `docker pull` returns) and for
# "pull+sync" (until the written layers are on disk), and shoald's VmRSS above idle
# during the pull (sampled every 20 ms, max).
#
# Usage: bench/pull.sh [ROUNDS]        (default 5; root; needs docker-registry skopeo
#                                       umoci dockerd)
# Env:   PKGS="libllvm14 gcc-12 perl-modules-5.36"  SHOAL_BUILD=build  PERF=1 (perf record
#        -g on shoald during its pulls, report in $PERF_OUT, default /tmp/shoal-pull.perf)
set -euo pipefail

ROUNDS=${1:-5}
PKGS=${PKGS:-"libllvm14 gcc-12 perl-modules-5.36"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHOAL_BUILD=${SHOAL_BUILD:-$ROOT/build}
DOCKER=${DOCKER:-/usr/local/bin/docker}
[[ -x $DOCKER ]] || DOCKER=$(command -v docker)
for b in docker-registry skopeo umoci dockerd python3 bc "$SHOAL_BUILD/shoald"; do
    command -v "$b" >/dev/null || {
        echo "pull.sh: missing $b" >&2
        exit 1
    }
done
[[ $(id -u) -eq 0 ]] || {
    echo "pull.sh: run as root" >&2
    exit 1
}
((ROUNDS >= 1)) || {
    echo "pull.sh: ROUNDS must be >= 1" >&2
    exit 1
}

W=$(mktemp -d /tmp/shoal-bench-pull.XXXXXX)
REG_PID="" SHOALD_PID="" DOCKERD_PID="" PERF_PID=""
cleanup() {
    for p in $PERF_PID $SHOALD_PID $DOCKERD_PID $REG_PID; do
        kill "$p" 2>/dev/null || true
    done
    for p in $PERF_PID $SHOALD_PID $DOCKERD_PID $REG_PID; do
        for _ in $(seq 200); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
    done
    umount -R "$W/dockerd-data" 2>/dev/null || true
    umount -R "$W/dockerd-exec" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
now() { date +%s.%N; }

echo "# building the image from: busybox + $PKGS"
mkdir -p "$W/debs"
# shellcheck disable=SC2086 # PKGS is a word list
(cd "$W/debs" && apt-get download $PKGS >/dev/null 2>&1) || {
    echo "pull.sh: apt-get download $PKGS failed" >&2
    exit 1
}
BB_TAR=$("$ROOT/tests/lib/mkrootfs.sh" "$ROOT/build/test/bb.tar")
umoci init --layout "$W/oci" >/dev/null
umoci new --image "$W/oci:bench" >/dev/null
umoci raw add-layer --image "$W/oci:bench" "$BB_TAR" >/dev/null
i=0
for deb in "$W"/debs/*.deb; do
    i=$((i + 1))
    mkdir -p "$W/x$i"
    dpkg-deb -x "$deb" "$W/x$i"
    tar --numeric-owner -C "$W/x$i" -cf "$W/x$i.tar" .
    umoci raw add-layer --image "$W/oci:bench" "$W/x$i.tar" >/dev/null
    rm -rf "$W/x$i" "$W/x$i.tar"
done
umoci config --image "$W/oci:bench" --config.cmd /bin/sh >/dev/null

PORT=$(free_port)
mkdir -p "$W/reg"
cat >"$W/reg/config.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $W/reg/store
http:
  addr: 127.0.0.1:$PORT
YML
docker-registry serve "$W/reg/config.yml" >"$W/reg/log" 2>&1 &
REG_PID=$!
for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/" && break
    sleep 0.1
done
skopeo copy -q --dest-tls-verify=false "oci:$W/oci:bench" "docker://127.0.0.1:$PORT/bench:v1"
IMG=127.0.0.1:$PORT/bench:v1
MAN=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://127.0.0.1:$PORT/v2/bench/manifests/v1")
read -r NLAYERS CSIZE < <(python3 -c '
import json, sys
m = json.loads(sys.argv[1])
print(len(m["layers"]), sum(l["size"] for l in m["layers"]))' "$MAN")
USIZE=$(du -sb "$W/oci/blobs" | cut -f1)
rm -rf "$W/oci" "$W/debs"
echo "# image: $NLAYERS layers, $((CSIZE / 1048576)) MiB compressed in the registry"

# VmRSS in kB with shell builtins only: the sampler must not fork while it times
rss_kb() {
    local k v _
    while read -r k v _; do
        if [[ $k == VmRSS: ]]; then
            echo "$v"
            return
        fi
    done <"/proc/$1/status" 2>/dev/null
    echo 0
}

# A level field: nothing cached, nothing dirty, the registry's blobs in memory.
settle() {
    sync
    echo 3 >/proc/sys/vm/drop_caches
    find "$W/reg/store" -type f -exec cat {} + >/dev/null
    sleep 0.2
}

start_shoald() {
    mkdir -p "$W/sd" "$W/sr"
    "$SHOAL_BUILD/shoald" --data-root "$W/sd" --exec-root "$W/sr" -H "unix://$W/shoald.sock" \
        --log-level warn --registry-allow 127.0.0.1 >>"$W/shoald.log" 2>&1 &
    SHOALD_PID=$!
    for _ in $(seq 200); do
        curl -fs --unix-socket "$W/shoald.sock" http://d/_ping >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "shoald did not start" >&2
    tail -n 20 "$W/shoald.log" >&2
    exit 1
}
stop_shoald() {
    kill "$SHOALD_PID"
    for _ in $(seq 200); do
        kill -0 "$SHOALD_PID" 2>/dev/null || break
        sleep 0.05
    done
    SHOALD_PID=""
    rm -rf "$W/sd" "$W/sr"
}

mkdir -p "$W/dockerd-data" "$W/dockerd-exec"
dockerd --data-root "$W/dockerd-data" --exec-root "$W/dockerd-exec" -H "unix://$W/dockerd.sock" \
    --pidfile "$W/dockerd.pid" --bridge=none --iptables=false --ip6tables=false \
    --containerd-namespace shoalbench --containerd-plugins-namespace shoalbench-p \
    >"$W/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 300); do
    curl -fs --unix-socket "$W/dockerd.sock" http://d/_ping >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fs --unix-socket "$W/dockerd.sock" http://d/_ping >/dev/null || {
    tail -n 20 "$W/dockerd.log" >&2
    echo "dockerd did not start" >&2
    exit 1
}

declare -a T_SHOAL T_SHOAL_SYNC T_DOCKER T_DOCKER_SYNC RSS_MAX

round_shoald() {
    local r=$1 idle peak v t0 t1 t2 pp
    settle
    idle=$(rss_kb "$SHOALD_PID")
    peak=$idle
    if [[ -n ${PERF:-} ]]; then
        perf record -g -o "$W/perf.$r.data" -p "$SHOALD_PID" >/dev/null 2>&1 &
        PERF_PID=$!
        sleep 0.5
    fi
    t0=$(now)
    DOCKER_HOST=unix://$W/shoald.sock "$DOCKER" pull -q "$IMG" >/dev/null &
    pp=$!
    while kill -0 "$pp" 2>/dev/null; do
        v=$(rss_kb "$SHOALD_PID")
        ((v > peak)) && peak=$v
        sleep 0.02
    done
    wait "$pp"
    t1=$(now)
    sync
    t2=$(now)
    if [[ -n $PERF_PID ]]; then
        kill -INT "$PERF_PID"
        wait "$PERF_PID" || true
        PERF_PID=""
        perf report -i "$W/perf.$r.data" --no-children --stdio --percent-limit 0.5 \
            >"${PERF_OUT:-/tmp/shoal-pull.perf}.$r" 2>/dev/null || true
    fi
    DOCKER_HOST=unix://$W/shoald.sock "$DOCKER" image inspect "$IMG" >/dev/null
    T_SHOAL+=("$(echo "$t1 - $t0" | bc)")
    T_SHOAL_SYNC+=("$(echo "$t2 - $t0" | bc)")
    RSS_MAX+=("$(((peak - idle) / 1024))")
    printf '# round %d shoald : pull %.2f s, pull+sync %.2f s, RSS idle %d MiB, +%d MiB peak\n' \
        "$r" "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t0" | bc)" $((idle / 1024)) \
        $(((peak - idle) / 1024))
}

round_dockerd() {
    local r=$1 t0 t1 t2
    settle
    t0=$(now)
    DOCKER_HOST=unix://$W/dockerd.sock "$DOCKER" pull -q "$IMG" >/dev/null
    t1=$(now)
    sync
    t2=$(now)
    T_DOCKER+=("$(echo "$t1 - $t0" | bc)")
    T_DOCKER_SYNC+=("$(echo "$t2 - $t0" | bc)")
    printf '# round %d dockerd: pull %.2f s, pull+sync %.2f s\n' \
        "$r" "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t0" | bc)"
}

# Every round starts from the same state for both: the previous round's images are
# deleted here, before either pull (deleting just before one daemon's pull would
# leave it the freshly freed inodes, which ext4 without a journal is slow to reuse).
for ((r = 1; r <= ROUNDS; r++)); do
    if [[ -n $SHOALD_PID ]]; then
        stop_shoald
    fi
    if DOCKER_HOST=unix://$W/dockerd.sock "$DOCKER" image inspect "$IMG" >/dev/null 2>&1; then
        DOCKER_HOST=unix://$W/dockerd.sock "$DOCKER" rmi -f "$IMG" >/dev/null
    fi
    start_shoald
    sleep 0.3
    if ((r % 2)); then
        round_shoald "$r"
        round_dockerd "$r"
    else
        round_dockerd "$r"
        round_shoald "$r"
    fi
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
ms=$(median "${T_SHOAL[@]}")
mss=$(median "${T_SHOAL_SYNC[@]}")
md=$(median "${T_DOCKER[@]}")
mds=$(median "${T_DOCKER_SYNC[@]}")
mr=$(median "${RSS_MAX[@]}")
echo
printf '%-10s %7s %10s %14s %16s\n' daemon layers "pull (s)" "pull+sync (s)" "RSS above idle"
printf '%-10s %7s %10.2f %14.2f %16s\n' shoald "$NLAYERS" "$ms" "$mss" "${mr} MiB"
printf '%-10s %7s %10.2f %14.2f %16s\n' dockerd "$NLAYERS" "$md" "$mds" "-"
ratio=$(echo "scale=2; $ms / $md" | bc)
ratio_sync=$(echo "scale=2; $mss / $mds" | bc)
echo "ratio shoald/dockerd: $ratio pull, $ratio_sync pull+sync (median of $ROUNDS alternating" \
    "rounds; image $((CSIZE / 1048576)) MiB compressed, $((USIZE / 1048576)) MiB OCI layout)"
if [[ -n ${BENCH_RESULTS:-} ]]; then
    {
        echo "pull.shoald.s $ms"
        echo "pull.dockerd.s $md"
        echo "pull.shoald_sync.s $mss"
        echo "pull.dockerd_sync.s $mds"
        echo "pull.ratio $ratio"
        echo "pull.shoald.rss_mib $mr"
    } >>"$BENCH_RESULTS"
fi
