#!/bin/bash
# bench/pull.sh - registry pull: shoald vs Debian's dockerd, same image, same local registry.
#
# Builds a multi-layer image (busybox + one layer per Debian package, unpacked with
# dpkg-deb) with umoci, pushes it to a docker-registry on 127.0.0.1 with skopeo, then
# times `docker pull` against shoald (fresh data root each round) and against a
# dockerd started here on its own socket and data root (image removed between rounds).
# Also samples shoald's VmRSS during each pull (max above idle).
#
# Usage: bench/pull.sh [ROUNDS]        (root; needs docker-registry skopeo umoci dockerd)
# Env:   PKGS="libllvm14 gcc-12 perl-modules-5.36"  SHOAL_BUILD=build
set -euo pipefail

ROUNDS=${1:-3}
PKGS=${PKGS:-"libllvm14 gcc-12 perl-modules-5.36"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHOAL_BUILD=${SHOAL_BUILD:-$ROOT/build}
DOCKER=${DOCKER:-/usr/local/bin/docker}
[[ -x $DOCKER ]] || DOCKER=$(command -v docker)
for b in docker-registry skopeo umoci dockerd python3 "$SHOAL_BUILD/shoald"; do
    command -v "$b" >/dev/null || { echo "pull.sh: missing $b" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "pull.sh: run as root" >&2; exit 1; }

W=$(mktemp -d /tmp/shoal-bench-pull.XXXXXX)
REG_PID="" SHOALD_PID="" DOCKERD_PID=""
cleanup() {
    for p in $SHOALD_PID $DOCKERD_PID $REG_PID; do
        kill "$p" 2>/dev/null || true
    done
    for p in $SHOALD_PID $DOCKERD_PID $REG_PID; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
    umount -R "$W/dockerd-data" 2>/dev/null || true
    umount -R "$W/dockerd-exec" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
now() { date +%s.%N; }

echo "# building the image from: busybox + $PKGS"
mkdir -p "$W/debs"
# shellcheck disable=SC2086 # PKGS is a word list
(cd "$W/debs" && apt-get download $PKGS >/dev/null 2>&1) || {
    echo "pull.sh: apt-get download $PKGS failed" >&2; exit 1; }
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
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/" && break; sleep 0.1; done
skopeo copy -q --dest-tls-verify=false "oci:$W/oci:bench" "docker://127.0.0.1:$PORT/bench:v1"
IMG=127.0.0.1:$PORT/bench:v1
MAN=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://127.0.0.1:$PORT/v2/bench/manifests/v1")
read -r NLAYERS CSIZE < <(python3 -c 'import json,sys; m=json.loads(sys.argv[1]); print(len(m["layers"]), sum(l["size"] for l in m["layers"]))' "$MAN")
USIZE=$(du -sb "$W/oci/blobs" | cut -f1)
echo "# image: $NLAYERS layers, $((CSIZE / 1048576)) MiB compressed in the registry"

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

start_shoald() {
    rm -rf "$W/sd" "$W/sr"
    mkdir -p "$W/sd" "$W/sr"
    "$SHOAL_BUILD/shoald" --data-root "$W/sd" --exec-root "$W/sr" -H "unix://$W/shoald.sock" \
        --log-level warn --registry-allow 127.0.0.1 >>"$W/shoald.log" 2>&1 &
    SHOALD_PID=$!
    for _ in $(seq 100); do
        curl -fs --unix-socket "$W/shoald.sock" http://d/_ping >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "shoald did not start" >&2
    exit 1
}
stop_shoald() {
    kill "$SHOALD_PID"
    for _ in $(seq 100); do kill -0 "$SHOALD_PID" 2>/dev/null || break; sleep 0.05; done
    SHOALD_PID=""
}

declare -a T_SHOAL T_DOCKER RSS_MAX
for ((r = 1; r <= ROUNDS; r++)); do
    start_shoald
    sleep 0.3
    idle=$(rss_kb "$SHOALD_PID")
    peak=$idle
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
    T_SHOAL+=("$(echo "$t1 - $t0" | bc)")
    RSS_MAX+=("$(((peak - idle) / 1024))")
    echo "# shoald round $r: $(echo "$t1 - $t0" | bc) s, RSS idle $((idle / 1024)) MiB, +$(((peak - idle) / 1024)) MiB peak"
    stop_shoald
done

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
for ((r = 1; r <= ROUNDS; r++)); do
    t0=$(now)
    DOCKER_HOST=unix://$W/dockerd.sock "$DOCKER" pull -q "$IMG" >/dev/null
    t1=$(now)
    T_DOCKER+=("$(echo "$t1 - $t0" | bc)")
    echo "# dockerd round $r: $(echo "$t1 - $t0" | bc) s"
    DOCKER_HOST=unix://$W/dockerd.sock "$DOCKER" rmi -f "$IMG" >/dev/null
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms=$(median "${T_SHOAL[@]}")
md=$(median "${T_DOCKER[@]}")
mr=$(median "${RSS_MAX[@]}")
echo
printf '%-10s %8s %12s %18s\n' daemon layers "pull (s)" "RSS above idle"
printf '%-10s %8s %12s %18s\n' shoald "$NLAYERS" "$ms" "${mr} MiB"
printf '%-10s %8s %12s %18s\n' dockerd "$NLAYERS" "$md" "-"
echo "ratio shoald/dockerd: $(echo "scale=2; $ms / $md" | bc) (median of $ROUNDS rounds; image $((CSIZE / 1048576)) MiB compressed, $((USIZE / 1048576)) MiB OCI layout)"
