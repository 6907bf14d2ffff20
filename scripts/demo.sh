#!/bin/bash
# scripts/demo.sh - the newcomer's first run: install the dependencies, build,
# start a shoald in a scratch directory and drive it with the shoal CLI (and
# the stock docker CLI when it is installed). Everything it starts is stopped
# and removed at the end.
#
# Until the cluster issues land, the demo shows the single-node engine:
# import an image, run containers, logs, stop, remove, live restore.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
    echo "demo: run as root (shoald creates namespaces, mounts and cgroups)" >&2
    exit 1
fi
scripts/install-deps.sh
make -j"$(nproc)"

T=$(mktemp -d /tmp/shoal-demo.XXXXXX)
SOCK=$T/shoal.sock
PID=
cleanup() {
    if [[ -n $PID ]] && kill -0 "$PID" 2>/dev/null; then
        build/shoal -H "unix://$SOCK" rm -f demo-web >/dev/null 2>&1 || true
        kill "$PID"
        wait "$PID" 2>/dev/null || true
    fi
    rm -rf "$T"
}
trap cleanup EXIT

start_daemon() {
    build/shoald --data-root "$T/data" --exec-root "$T/run" -H "unix://$SOCK" 2>>"$T/shoald.log" &
    PID=$!
    for _ in $(seq 100); do
        [[ -S $SOCK ]] && build/shoal -H "unix://$SOCK" version >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "demo: shoald did not come up; its log:" >&2
    cat "$T/shoald.log" >&2
    exit 1
}

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
shoal() { say "shoal $*"; build/shoal -H "unix://$SOCK" "$@"; }

start_daemon
TAR=$(tests/lib/mkrootfs.sh "$T/bb.tar")
shoal import "$TAR" bb:latest
shoal images
shoal run --rm bb echo hello from a shoal container
# shellcheck disable=SC2016 # expanded inside the container
shoal run --rm -e GREETING=hi -m 32m --pids-limit 50 bb sh -c 'echo $GREETING; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max'
shoal run -d --name demo-web bb sh -c 'while true; do echo tick; sleep 1; done'
shoal ps
sleep 2
shoal logs demo-web

say "kill -9 shoald; start it again (the container keeps running)"
kill -9 "$PID"
wait "$PID" 2>/dev/null || true
start_daemon
shoal ps
shoal stop -t 1 demo-web
shoal rm demo-web
shoal ps -a
if command -v docker >/dev/null; then
    say "DOCKER_HOST=unix://$SOCK docker run --rm bb uname -a"
    DOCKER_HOST=unix://$SOCK docker run --rm bb uname -a
fi
echo
echo "demo: done"
