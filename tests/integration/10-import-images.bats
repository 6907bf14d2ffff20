#!/usr/bin/env bats
# 10-import-images: docker import of the busybox rootfs, images, image inspect.

load helpers

setup_file() {
    SUITE_NO_IMPORT=1 # read by suite_setup_file
    export SUITE_NO_IMPORT
    suite_setup_file
}
teardown_file() { suite_teardown_file; }
teardown() { suite_teardown; }

@test "docker import prints the image id" {
    run docker import "$BB_TAR" bb:latest
    [ "$status" -eq 0 ]
    [[ $output =~ ^sha256:[0-9a-f]{64}$ ]]
    echo "${output#sha256:}" >"$T/imported-id"
}

@test "docker images lists bb latest with a size" {
    run docker images
    [ "$status" -eq 0 ]
    [[ $output == *REPOSITORY* ]]
    run docker images --format '{{.Repository}} {{.Tag}} {{.ID}} {{.Size}}' bb
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 1 ]
    read -r repo tag id size <<<"${lines[0]}"
    [ "$repo" = bb ]
    [ "$tag" = latest ]
    [[ $id =~ ^[0-9a-f]{12}$ ]]
    [ "$id" = "$(cut -c1-12 "$T/imported-id")" ]
    # busybox-static is ~2 MB
    [[ $size =~ ^[0-9.]+[kM]B$ ]]
}

@test "docker image inspect bb shows id, tags, size and rootfs" {
    run docker image inspect bb
    [ "$status" -eq 0 ]
    echo "$output" >"$T/inspect.json"
    [ "$(json_get 0.Id "$T/inspect.json")" = "sha256:$(cat "$T/imported-id")" ]
    [ "$(json_get 0.RepoTags.0 "$T/inspect.json")" = "bb:latest" ]
    [ "$(json_get 0.Os "$T/inspect.json")" = "linux" ]
    size=$(json_get 0.Size "$T/inspect.json")
    [ "$size" -gt 1000000 ]
    [ "$(json_get 0.RootFS.Type "$T/inspect.json")" = "layers" ]
    run docker image inspect -f '{{.Id}}' bb:latest
    [ "$status" -eq 0 ]
    [ "$output" = "sha256:$(cat "$T/imported-id")" ]
}

@test "importing the same tar again under another tag works" {
    # (the id may differ: the image config records the import time)
    run docker import "$BB_TAR" bb:again
    [ "$status" -eq 0 ]
    [[ $output =~ ^sha256:[0-9a-f]{64}$ ]]
    run docker images -q bb:again
    [ "$status" -eq 0 ]
    [ -n "$output" ]
}

@test "import from stdin works" {
    run docker import - bb:stdin <"$BB_TAR"
    [ "$status" -eq 0 ]
    [[ $output =~ ^sha256:[0-9a-f]{64}$ ]]
}

@test "image inspect of an unknown image fails" {
    run docker image inspect nope:latest
    [ "$status" -eq 1 ]
    [[ $output == *"No such image"* ]]
}
