#!/bin/bash
# tests/lib/mkrootfs.sh - build the busybox-static root filesystem tar used by
# the integration tests and benchmarks.
#
# Usage: tests/lib/mkrootfs.sh [OUT]      (default OUT: build/test/bb.tar)
# Prints the path of the tar. The tar holds bin/busybox, one symlink per applet
# (from `busybox --list`), etc/passwd (root, nobody 65534), etc/group, empty
# mount points and tmp with mode 1777. The output is deterministic (sorted,
# fixed mtime, numeric root owner) and rebuilt only when busybox or this script
# is newer than the cached tar.
set -euo pipefail

BUSYBOX=${BUSYBOX:-/bin/busybox}
OUT=${1:-build/test/bb.tar}

if [[ ! -x $BUSYBOX ]]; then
    echo "mkrootfs: $BUSYBOX not found (install busybox-static)" >&2
    exit 1
fi
if ! "$BUSYBOX" --list >/dev/null 2>&1; then
    echo "mkrootfs: $BUSYBOX does not support --list" >&2
    exit 1
fi
# A dynamically linked busybox would not run inside the image.
if command -v file >/dev/null && file -L "$BUSYBOX" | grep -q 'dynamically linked'; then
    echo "mkrootfs: $BUSYBOX is dynamically linked; need busybox-static" >&2
    exit 1
fi

if [[ -s $OUT && $OUT -nt $BUSYBOX && $OUT -nt ${BASH_SOURCE[0]} ]]; then
    echo "$OUT"
    exit 0
fi

mkdir -p "$(dirname "$OUT")"
work=$(mktemp -d "${TMPDIR:-/tmp}/mkrootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
r=$work/root
mkdir -p "$r"/{bin,etc,tmp,root,dev,proc,sys,mnt,var,home}
install -m 0755 "$BUSYBOX" "$r/bin/busybox"
"$BUSYBOX" --list | while read -r applet; do
    [[ -n $applet && $applet != busybox ]] || continue
    ln -s busybox "$r/bin/$applet"
done
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$r/etc/passwd"
printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$r/etc/group"
chmod 0644 "$r/etc/passwd" "$r/etc/group"
chmod 0755 "$r" "$r"/{bin,etc,dev,proc,sys,mnt,var,home}
chmod 0700 "$r/root"
chmod 1777 "$r/tmp"

tar --create --file="$work/bb.tar" --directory="$r" --sort=name --format=gnu \
    --owner=0 --group=0 --numeric-owner --mtime='@0' bin dev etc home mnt proc root sys tmp var
mv -f "$work/bb.tar" "$OUT"
echo "$OUT"
