#!/usr/bin/env bats
# 27-mounts: bind mounts (-v /host:/ctr[:ro], --mount type=bind) and tmpfs
# mounts (--mount type=tmpfs, --tmpfs): data in and out, read-only, symlinks
# in the image that must not lead a mount out of the rootfs, Docker's errors,
# inspect's Mounts[]. Named volumes are refused.

load helpers

setup_file() { suite_setup_file; }
teardown_file() { suite_teardown_file; }
teardown() { suite_teardown; }

# run_bb ARGS... - docker run --rm --network none ARGS (image and command included)
run_bb() {
    docker run --rm --network none "$@"
}

@test "-v /host/dir:/ctr: the container reads and writes the host directory" {
    mkdir -p "$T/h1"
    echo from-host >"$T/h1/in"
    run run_bb -v "$T/h1:/data" bb:latest sh -c 'cat /data/in && echo from-ctr >/data/out'
    [ "$status" -eq 0 ]
    [ "$output" = from-host ]
    [ "$(cat "$T/h1/out")" = from-ctr ]
}

@test "-v creates a missing host directory; a file can be bound too" {
    [ ! -e "$T/made/sub" ]
    run run_bb -v "$T/made/sub:/data" bb:latest sh -c 'touch /data/x'
    [ "$status" -eq 0 ]
    [ -d "$T/made/sub" ]
    [ -f "$T/made/sub/x" ]
    echo one-file >"$T/file.txt"
    run run_bb -v "$T/file.txt:/etc/file.txt:ro" bb:latest cat /etc/file.txt
    [ "$status" -eq 0 ]
    [ "$output" = one-file ]
}

@test "-v ...:ro refuses writes, reads work" {
    mkdir -p "$T/h2"
    echo keep >"$T/h2/f"
    run run_bb -v "$T/h2:/data:ro" bb:latest sh -c 'cat /data/f; echo x >/data/new'
    [ "$status" -ne 0 ]
    [[ $output == *keep* ]]
    [[ $output == *"Read-only file system"* ]]
    [ ! -e "$T/h2/new" ]
}

@test "--mount type=bind,readonly is read-only; without readonly it is writable" {
    mkdir -p "$T/h3"
    run run_bb --mount "type=bind,src=$T/h3,dst=/m,readonly" bb:latest touch /m/x
    [ "$status" -ne 0 ]
    [[ $output == *"Read-only file system"* ]]
    [ ! -e "$T/h3/x" ]
    run run_bb --mount "type=bind,source=$T/h3,target=/m" bb:latest touch /m/y
    [ "$status" -eq 0 ]
    [ -e "$T/h3/y" ]
}

@test "--mount type=bind with a missing source fails with docker's message" {
    run run_bb --mount "type=bind,src=$T/nope,dst=/m" bb:latest true
    [ "$status" -eq 125 ]
    [[ $output == *"invalid mount config for type \"bind\": bind source path does not exist: $T/nope"* ]]
    [ ! -e "$T/nope" ]
}

@test "named and anonymous volumes are refused with a clear error" {
    requires_shoald "dockerd has volumes"
    run run_bb -v myvol:/data bb:latest true
    [ "$status" -eq 125 ]
    [[ $output == *"named volumes are not supported"* ]]
    run run_bb --mount type=volume,src=myvol,dst=/data bb:latest true
    [ "$status" -eq 125 ]
    [[ $output == *"named volumes are not supported"* ]]
    run run_bb -v /data bb:latest true
    [ "$status" -eq 125 ]
    [[ $output == *"named volumes are not supported"* ]]
}

@test "bad mount specs: relative destination, duplicate destination" {
    mkdir -p "$T/h4"
    run run_bb -v "$T/h4:rel" bb:latest true
    [ "$status" -eq 125 ]
    [[ $output == *"must be absolute"* ]]
    run run_bb -v "$T/h4:/d" --mount "type=tmpfs,dst=/d/" bb:latest true
    [ "$status" -eq 125 ]
    [[ $output == *"Duplicate mount point: /d"* ]]
}

@test "--mount type=tmpfs: empty, writable, sized, nosuid/nodev" {
    run run_bb --mount type=tmpfs,dst=/scratch,tmpfs-size=1m,tmpfs-mode=1770 bb:latest sh -c \
        'ls -A /scratch | wc -l; echo hi >/scratch/f && cat /scratch/f; stat -c %a /scratch; grep " /scratch " /proc/mounts'
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = 0 ]
    [ "${lines[1]}" = hi ]
    [ "${lines[2]}" = 1770 ]
    [[ ${lines[3]} == "tmpfs /scratch tmpfs "* ]]
    [[ ${lines[3]} == *nosuid* ]]
    [[ ${lines[3]} == *nodev* ]]
    [[ ${lines[3]} == *size=1024k* ]]
}

@test "--tmpfs /path:opts mounts a noexec tmpfs with the options" {
    run run_bb --tmpfs /run2:size=2m bb:latest grep " /run2 " /proc/mounts
    [ "$status" -eq 0 ]
    [[ $output == *noexec* ]]
    [[ $output == *size=2048k* ]]
}

@test "a tmpfs is gone after the container stops" {
    docker create --name tm --network none --tmpfs /scr bb:latest \
        sh -c 'ls -A /scr; echo x >/scr/f; cat /scr/f'
    run docker start -a tm
    [ "$status" -eq 0 ]
    [ "$output" = x ]
    run docker start -a tm
    [ "$status" -eq 0 ]
    [ "$output" = x ]
    upper=$(docker inspect -f '{{.GraphDriver.Data.UpperDir}}' tm)
    [ -n "$upper" ]
    [ ! -e "$upper/scr/f" ]
    docker rm tm
}

@test "a symlink in the image at the target never leads the mount out of the rootfs" {
    requires_shoald "the refusal of a mount on the root is shoal's"
    local esc=shoal-esc-${T##*.}
    mkdir -p "$T/img" "$T/h5"
    echo inside >"$T/h5/marker"
    tar -C "$T/img" -xf "$BB_TAR"
    ln -s / "$T/img/etc/toroot"
    ln -s /outside "$T/img/etc/abs"
    ln -s "../../../../../../../../tmp/$esc" "$T/img/etc/rel"
    tar -C "$T/img" -cf "$T/img.tar" .
    docker import "$T/img.tar" bblink:latest >/dev/null

    # absolute link: lands at /outside of the container, not of the host
    run run_bb -v "$T/h5:/etc/abs" bblink:latest sh -c 'cat /outside/marker; cat /etc/abs/marker'
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = inside ]
    [ "${lines[1]}" = inside ]
    [ ! -e /outside ]
    # relative link climbing out: created and mounted inside the rootfs only
    run run_bb --mount "type=bind,src=$T/h5,dst=/etc/rel" bblink:latest cat "/tmp/$esc/marker"
    [ "$status" -eq 0 ]
    [ "$output" = inside ]
    [ ! -e "/tmp/$esc" ]
    # a tmpfs through the same kind of link
    run run_bb --mount type=tmpfs,dst=/etc/abs bblink:latest sh -c 'grep " /outside " /proc/mounts'
    [ "$status" -eq 0 ]
    [[ $output == "tmpfs /outside tmpfs "* ]]
    # a link to / : refused, nothing is mounted over the container's root
    run run_bb -v "$T/h5:/etc/toroot" bblink:latest true
    [ "$status" -ne 0 ]
    [[ $output == *"resolves to the container's root directory"* ]]
    docker rmi bblink:latest >/dev/null
}

@test "docker inspect shows Mounts[] and HostConfig.Binds/Mounts as given" {
    mkdir -p "$T/h6"
    docker create --name insp --network none -v "$T/h6:/data:ro" \
        --mount "type=bind,src=$T/h6,dst=/b,readonly" --mount type=tmpfs,dst=/t \
        --tmpfs /run3 bb:latest true
    docker inspect insp >"$T/insp.json"
    python3 - "$T/insp.json" "$T/h6" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))[0]
h6 = sys.argv[2]
mounts = {m["Destination"]: m for m in c["Mounts"]}
assert set(mounts) == {"/data", "/b", "/t"}, mounts
assert mounts["/data"] == {"Type": "bind", "Source": h6, "Destination": "/data", "Mode": "ro",
                           "RW": False, "Propagation": "rprivate"}, mounts["/data"]
assert mounts["/b"] == {"Type": "bind", "Source": h6, "Destination": "/b", "Mode": "",
                        "RW": False, "Propagation": "rprivate"}, mounts["/b"]
t = mounts["/t"]
assert t["Type"] == "tmpfs" and t["Source"] == "" and t["RW"] is True, t
hc = c["HostConfig"]
assert hc["Binds"] == [h6 + ":/data:ro"], hc["Binds"]
assert [m["Type"] for m in hc["Mounts"]] == ["bind", "tmpfs"], hc["Mounts"]
assert hc["Mounts"][0]["Source"] == h6 and hc["Mounts"][0]["Target"] == "/b", hc["Mounts"]
assert hc["Mounts"][0]["ReadOnly"] is True, hc["Mounts"]
assert hc["Tmpfs"] == {"/run3": ""}, hc["Tmpfs"]
EOF
    run docker inspect -f '{{range .Mounts}}{{.Destination}}={{.RW}} {{end}}' insp
    [[ $output == *"/data=false"* ]]
    docker rm insp
}
