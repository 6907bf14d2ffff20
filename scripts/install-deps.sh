#!/bin/sh
# Installs every Debian 12 package needed to build shoal and run its tests.
# Usage: scripts/install-deps.sh [--bench]   (--bench adds crun, docker.io, hyperfine, iperf3)
set -eu
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: run as root (apt-get needs it)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
PKGS="build-essential pkg-config git
libuv1-dev libraft-dev libprotobuf-c-dev protobuf-c-compiler libssl-dev
libseccomp-dev libnl-3-dev libnl-route-3-dev libnl-genl-3-dev libnftables-dev
libjansson-dev libarchive-dev libzstd-dev liblz4-dev liblzma-dev libbz2-dev zlib1g-dev
libcurl4-openssl-dev libhttp-parser-dev libisal-dev binutils
libcmocka-dev bats busybox-static iproute2 nftables util-linux procps
clang clang-format clang-tidy cppcheck shellcheck python3 tmux
docker-registry skopeo umoci python3-cryptography openssl curl bc"
if [ "${1:-}" = "--bench" ]; then
    PKGS="$PKGS crun docker.io hyperfine etcd-server etcd-client iperf3"
fi
# image tests build OCI layouts with standard tools (tests/integration/18-images.bats)
PKGS="$PKGS umoci skopeo"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
fi
