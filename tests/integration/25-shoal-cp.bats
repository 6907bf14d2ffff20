#!/usr/bin/env bats
# `shoal cp` (issue 6): both directions, directories, symlinks, tar streams,
# and a confined extraction on the client side.

load helpers

setup_file() {
    suite_setup_file
    if [[ -n ${SUITE_SKIP:-} ]]; then return 0; fi
    docker run -d --network none --name scp bb:latest sh -c \
        'mkdir -p /d/sub; echo a >/d/a; echo b >/d/sub/b; ln -s /etc/hostname /d/link; echo top >/f; sleep 1000' >/dev/null
}
teardown_file() { suite_teardown_file; }
teardown() { suite_teardown; }

setup() {
    suite_setup
    requires_shoal_cli
    retry 50 0.1 docker exec scp test -L /d/link
    H=$(mktemp -d "$T/h.XXXXXX")
}

@test "shoal cp: a file out of a container, to a new name and into a directory" {
    shoal cp scp:/f "$H/f.out"
    [ "$(cat "$H/f.out")" = top ]
    mkdir "$H/dir"
    shoal cp scp:/f "$H/dir"
    [ "$(cat "$H/dir/f")" = top ]
    # an existing file is overwritten
    echo old >"$H/f.out"
    shoal cp scp:/f "$H/f.out"
    [ "$(cat "$H/f.out")" = top ]
}

@test "shoal cp: a directory out of a container; its symlink stays a symlink" {
    shoal cp scp:/d "$H/copy"
    [ "$(cat "$H/copy/a")" = a ]
    [ "$(cat "$H/copy/sub/b")" = b ]
    [ -L "$H/copy/link" ]
    [ "$(readlink "$H/copy/link")" = /etc/hostname ]
    # into an existing directory: keeps the source's name
    mkdir "$H/into"
    shoal cp scp:/d "$H/into"
    [ "$(cat "$H/into/d/sub/b")" = b ]
    [ -L "$H/into/d/link" ]
}

@test "shoal cp: into a container, file and directory (with a symlink)" {
    echo hello-put >"$H/p1"
    shoal cp "$H/p1" scp:/tmp/
    run docker exec scp cat /tmp/p1
    [ "$output" = hello-put ]
    shoal cp "$H/p1" scp:/tmp/renamed
    run docker exec scp cat /tmp/renamed
    [ "$output" = hello-put ]
    mkdir -p "$H/tree/x"
    echo y >"$H/tree/x/y"
    ln -s x/y "$H/tree/ly"
    shoal cp "$H/tree" scp:/tmp/tree2
    run docker exec scp cat /tmp/tree2/x/y
    [ "$output" = y ]
    run docker exec scp readlink /tmp/tree2/ly
    [ "$output" = x/y ]
    # a symlink given as SRC is copied as a symlink (not followed without -L)
    shoal cp "$H/tree/ly" scp:/tmp/ly
    run docker exec scp readlink /tmp/ly
    [ "$output" = x/y ]
    # long names travel through PAX records
    long=$(printf 'n%.0s' {1..150})
    echo long >"$H/tree/$long"
    shoal cp "$H/tree" scp:/tmp/tree3
    run docker exec scp cat "/tmp/tree3/$long"
    [ "$output" = long ]
}

@test "shoal cp: '-' streams a tar to stdout and from stdin" {
    run bash -c "shoal cp scp:/f - | tar -xO"
    [ "$status" -eq 0 ]
    [ "$output" = top ]
    mkdir -p "$H/src"
    echo from-stdin >"$H/src/s"
    tar -C "$H/src" -cf - s | shoal cp - scp:/tmp
    run docker exec scp cat /tmp/s
    [ "$output" = from-stdin ]
}

@test "shoal cp: errors (missing source, missing container, two containers)" {
    run shoal cp scp:/nope "$H/x"
    [ "$status" -eq 1 ]
    [[ $output == *"Could not find the file /nope"* ]]
    run shoal cp nosuchctr:/f "$H/x"
    [ "$status" -eq 1 ]
    [[ $output == *"No such container"* ]]
    run shoal cp scp:/f scp:/g
    [ "$status" -eq 1 ]
    run shoal cp "$H/missing" scp:/tmp/
    [ "$status" -eq 1 ]
    [[ $output == *"no such file"* || $output == *"No such file"* ]]
    run shoal cp scp:/f "$H/nodir/"
    [ "$status" -eq 1 ]
}

@test "shoal cp: extraction never writes through a symlink on the host" {
    # DEST/d/link is a symlink to a host dir; an archive entry d/link/evil
    # must not land in that host dir
    outside=$(mktemp -d "$T/outside.XXXXXX")
    mkdir -p "$H/tgt/d"
    ln -s "$outside" "$H/tgt/d/link"
    docker exec scp sh -c 'rm -f /d/link; mkdir -p /d/link; echo evil >/d/link/evil'
    run shoal cp scp:/d "$H/tgt"
    # the link is replaced by a directory or the copy is refused; never followed
    [ ! -e "$outside/evil" ]
    docker exec scp sh -c 'rm -rf /d/link; ln -s /etc/hostname /d/link'
}
