#!/usr/bin/env bats
# 18-images: docker save / load (docker and OCI archives), rmi, tag, history,
# image prune, with the stock docker CLI and with shoal; the saved archive is
# loaded into Debian's real dockerd too.

load helpers

setup_file() { suite_setup_file; }
teardown_file() {
    real_dockerd_stop
    suite_teardown_file
}
teardown() { suite_teardown; }

# Debian's dockerd on its own socket and data root (only for the cross-check).
real_dockerd_start() {
    [[ -x /usr/sbin/dockerd ]] || return 1
    R=$T/real
    mkdir -p "$R"
    /usr/sbin/dockerd --data-root "$R/d" --exec-root "$R/r" -H "unix://$R/d.sock" \
        --pidfile "$R/d.pid" --bridge=none --iptables=false --ip6tables=false \
        --containerd-namespace shoal18 --containerd-plugins-namespace shoal18p \
        >"$R/log" 2>&1 &
    echo $! >"$R/pid"
    retry 60 0.5 env DOCKER_HOST="unix://$R/d.sock" "$DOCKER_BIN" version >/dev/null 2>&1
}

real_dockerd_stop() {
    local R=${T:-/nonexistent}/real pid
    [[ -s $R/pid ]] || return 0
    pid=$(<"$R/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 40); do
        pid_alive "$pid" || break
        sleep 0.5
    done
    grep " $R/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r umount 2>/dev/null || true
    rm -rf "$R"
}

@test "docker save writes a docker-save tar (manifest.json, config, layer.tar)" {
    run docker save -o "$T/bb.tar" bb:latest
    [ "$status" -eq 0 ]
    run tar -tf "$T/bb.tar"
    [ "$status" -eq 0 ]
    [[ $output == *manifest.json* ]]
    [[ $output == */layer.tar* ]]
    tar -xOf "$T/bb.tar" manifest.json >"$T/manifest.json"
    [ "$(json_get 0.RepoTags.0 "$T/manifest.json")" = bb:latest ]
    # the layer tar is the imported one, byte for byte: its sha256 is the diff-id
    layer=$(json_get 0.Layers.0 "$T/manifest.json")
    sum=$(tar -xOf "$T/bb.tar" "$layer" | sha256sum | cut -d' ' -f1)
    run docker image inspect -f '{{index .RootFS.Layers 0}}' bb
    [ "$output" = "sha256:$sum" ]
}

@test "docker save of an unknown image is a 404" {
    run docker save -o "$T/x.tar" nosuchimage
    [ "$status" -ne 0 ]
    [[ $output == *"No such image: nosuchimage"* ]]
}

@test "docker load of the saved file restores the image after rmi" {
    id=$(docker image inspect -f '{{.Id}}' bb)
    run docker rmi bb:latest
    [ "$status" -eq 0 ]
    [[ ${lines[0]} == "Untagged: bb:latest" ]]
    [[ $output == *"Deleted: $id"* ]]
    run docker image inspect bb
    [ "$status" -ne 0 ]
    run docker load -i "$T/bb.tar"
    [ "$status" -eq 0 ]
    [ "$output" = "Loaded image: bb:latest" ]
    [ "$(docker image inspect -f '{{.Id}}' bb)" = "$id" ]
    # and piped through stdin
    run bash -c 'docker save bb | docker load'
    [ "$status" -eq 0 ]
    [ "$output" = "Loaded image: bb:latest" ]
}

@test "docker load of garbage is a clear 400 and stores nothing" {
    n=$(docker images -q | wc -l)
    head -c 3000 /dev/urandom >"$T/garbage.tar"
    run docker load -i "$T/garbage.tar"
    [ "$status" -ne 0 ]
    [[ $output == *"invalid archive"* ]]
    [ "$(docker images -q | wc -l)" -eq "$n" ]
}

@test "docker load of an OCI layout archive made by umoci and skopeo" {
    command -v umoci >/dev/null && command -v skopeo >/dev/null || skip "umoci/skopeo missing"
    cd "$T"
    rm -rf oci
    umoci init --layout oci
    umoci new --image oci:base
    umoci unpack --rootless --image oci:base bundle >/dev/null
    mkdir -p bundle/rootfs/etc
    echo "from umoci" >bundle/rootfs/etc/motd
    cp "$(command -v busybox)" bundle/rootfs/busybox 2>/dev/null || true
    umoci repack --image oci:base bundle
    umoci config --image oci:base --config.cmd /busybox --config.cmd cat \
        --config.cmd /etc/motd
    skopeo copy --quiet oci:oci:base oci-archive:"$T/oci.tar":ocitest:v1
    run docker load -i "$T/oci.tar"
    [ "$status" -eq 0 ]
    [ "$output" = "Loaded image: ocitest:v1" ]
    run docker image inspect -f '{{json .Config.Cmd}}' ocitest:v1
    [[ $output == *motd* ]]
}

@test "the archive shoald saves loads into Debian's real dockerd" {
    requires_shoald "cross-check against dockerd"
    real_dockerd_start || skip "dockerd cannot start here"
    run env DOCKER_HOST="unix://$T/real/d.sock" "$DOCKER_BIN" load -i "$T/bb.tar"
    [ "$status" -eq 0 ]
    [ "$output" = "Loaded image: bb:latest" ]
    real_id=$(env DOCKER_HOST="unix://$T/real/d.sock" "$DOCKER_BIN" image inspect -f '{{.Id}}' bb)
    [ "$real_id" = "$(docker image inspect -f '{{.Id}}' bb)" ]
    # and the other way round
    env DOCKER_HOST="unix://$T/real/d.sock" "$DOCKER_BIN" save -o "$T/real.tar" bb
    real_dockerd_stop
    docker rmi bb >/dev/null
    run docker load -i "$T/real.tar"
    [ "$status" -eq 0 ]
    [ "$(docker image inspect -f '{{.Id}}' bb)" = "$real_id" ]
}

@test "docker tag with a fully qualified name; RepoTags normalised; untag" {
    run docker tag bb docker.io/library/bb:v2
    [ "$status" -eq 0 ]
    run docker image inspect -f '{{json .RepoTags}}' bb
    [ "$output" = '["bb:latest","bb:v2"]' ]
    run docker rmi bb:v2
    [ "$status" -eq 0 ]
    [ "$output" = "Untagged: bb:v2" ]
}

@test "docker rmi by id of an image in two repositories needs -f" {
    docker tag bb other:1
    id=$(docker image inspect -f '{{.Id}}' bb)
    run docker rmi "${id:7:12}"
    [ "$status" -ne 0 ]
    [[ $output == *"unable to delete ${id:7:12} (must be forced) - image is referenced in multiple repositories"* ]]
    docker rmi other:1
}

@test "docker rmi conflicts while a container uses the image; -f or rm resolve it" {
    docker tag bb used:1
    docker rmi bb >/dev/null # used:1 is now the only reference
    cid=$(docker create used:1 true)
    id=$(docker image inspect -f '{{.Id}}' used:1)
    run docker rmi used:1
    [ "$status" -ne 0 ]
    [[ $output == *"conflict: unable to remove repository reference \"used:1\" (must force) - container ${cid:0:12} is using its referenced image ${id:7:12}"* ]]
    docker rm "$cid" >/dev/null
    run docker rmi used:1
    [ "$status" -eq 0 ]
    [[ $output == *"Deleted: $id"* ]]
    docker load -i "$T/bb.tar" >/dev/null
}

@test "docker history lists the import step" {
    run docker history bb
    [ "$status" -eq 0 ]
    [[ ${lines[0]} == IMAGE*CREATED*"CREATED BY"*SIZE*COMMENT* ]]
    [[ ${lines[1]} == *"Imported from -"* ]]
}

@test "docker image prune removes dangling images only; -a unused ones" {
    docker import "$BB_TAR" >/dev/null # untagged
    dangling=$(docker images -q -f dangling=true | wc -l)
    [ "$dangling" -ge 1 ]
    run docker image prune -f
    [ "$status" -eq 0 ]
    [[ $output == *"deleted: sha256:"* ]]
    [[ $output == *"Total reclaimed space:"* ]]
    [ "$(docker images -q -f dangling=true | wc -l)" -eq 0 ]
    docker image inspect bb >/dev/null
    docker tag bb unused:1
    cid=$(docker create bb true)
    run docker image prune -a -f
    [ "$status" -eq 0 ]
    # bb is used by a container: kept (with both tags: same image)
    docker image inspect bb >/dev/null
    docker rm "$cid" >/dev/null
    docker rmi unused:1 >/dev/null
}

@test "shoal save / rmi / load / tag / history / image prune" {
    requires_shoal_cli
    run shoal save -o "$T/shoal.tar" bb
    [ "$status" -eq 0 ]
    [ -s "$T/shoal.tar" ]
    run shoal tag bb sh:1
    [ "$status" -eq 0 ]
    run shoal rmi sh:1
    [ "$status" -eq 0 ]
    [ "$output" = "Untagged: sh:1" ]
    run shoal rmi bb
    [ "$status" -eq 0 ]
    [[ $output == *Deleted:* ]]
    run shoal load -i "$T/shoal.tar"
    [ "$status" -eq 0 ]
    [ "$output" = "Loaded image: bb:latest" ]
    run shoal history bb
    [ "$status" -eq 0 ]
    [[ $output == *"Imported from -"* ]]
    run shoal image prune -f
    [ "$status" -eq 0 ]
    [[ $output == *"Total reclaimed space:"* ]]
    run shoal rmi nosuch
    [ "$status" -eq 1 ]
    [[ $output == *"No such image: nosuch"* ]]
}
