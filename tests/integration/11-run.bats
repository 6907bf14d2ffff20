#!/usr/bin/env bats
# 11-run: docker run in the foreground: output, exit codes, env, user, workdir,
# hostname, networks, stdout/stderr, missing commands, large output.

load helpers

setup_file() { suite_setup_file; }
teardown_file() { suite_teardown_file; }
teardown() { suite_teardown; }

@test "run --rm echo prints hello" {
    run docker run --rm bb:latest echo hello
    [ "$status" -eq 0 ]
    [ "$output" = "hello" ]
}

@test "the exit status of the command is passed through" {
    run docker run --rm bb:latest sh -c 'exit 7'
    [ "$status" -eq 7 ]
    run docker run --rm bb:latest false
    [ "$status" -eq 1 ]
    run docker run --rm bb:latest true
    [ "$status" -eq 0 ]
}

@test "a container left behind keeps its exit code" {
    run docker run --name exit7 bb:latest sh -c 'exit 7'
    [ "$status" -eq 7 ]
    run docker inspect -f '{{.State.ExitCode}}' exit7
    [ "$output" = "7" ]
    docker rm exit7
}

@test "-e sets environment variables" {
    run docker run --rm -e A=1 bb:latest sh -c 'echo $A'
    [ "$status" -eq 0 ]
    [ "$output" = "1" ]
    run docker run --rm -e A=1 -e B='two words' bb:latest sh -c 'echo "$A|$B"'
    [ "$output" = "1|two words" ]
}

@test "PATH and HOME have docker's defaults" {
    run docker run --rm bb:latest sh -c 'echo $PATH; echo $HOME'
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" ]
    [ "${lines[1]}" = "/root" ]
}

@test "-w sets the working directory" {
    run docker run --rm -w /tmp bb:latest pwd
    [ "$status" -eq 0 ]
    [ "$output" = "/tmp" ]
    # a missing directory is created
    run docker run --rm -w /new/dir bb:latest pwd
    [ "$status" -eq 0 ]
    [ "$output" = "/new/dir" ]
}

@test "-u sets the user by number and by name" {
    run docker run --rm bb:latest id -u
    [ "$output" = "0" ]
    run docker run --rm -u 65534 bb:latest id -u
    [ "$status" -eq 0 ]
    [ "$output" = "65534" ]
    run docker run --rm -u nobody bb:latest id -u
    [ "$status" -eq 0 ]
    [ "$output" = "65534" ]
    run docker run --rm -u 65534:65534 bb:latest id -g
    [ "$output" = "65534" ]
}

@test "--hostname sets the hostname" {
    run docker run --rm --hostname myhost bb:latest hostname
    [ "$status" -eq 0 ]
    [ "$output" = "myhost" ]
}

@test "--network none has only lo" {
    run docker run --rm --network none bb:latest ls /sys/class/net
    [ "$status" -eq 0 ]
    [ "$output" = "lo" ]
}

@test "--network host sees the host's interfaces" {
    local want
    want=$(ls /sys/class/net | sort | tr '\n' ' ')
    run docker run --rm --network host bb:latest sh -c 'ls /sys/class/net | sort | tr "\n" " "'
    [ "$status" -eq 0 ]
    [ "$output" = "$want" ]
}

@test "stdout and stderr stay separate" {
    run bash -c "docker run --rm bb:latest sh -c 'echo out; echo err >&2' 2>/dev/null"
    [ "$status" -eq 0 ]
    [ "$output" = "out" ]
    run bash -c "docker run --rm bb:latest sh -c 'echo out; echo err >&2' 2>&1 >/dev/null"
    [ "$status" -eq 0 ]
    [ "$output" = "err" ]
}

@test "a missing command exits 127 with 'executable file not found'" {
    run -127 docker run --rm bb:latest /no/such/cmd
    [ "$status" -eq 127 ]
    [[ $output == *"no such file or directory"* || $output == *"executable file not found"* ]]
    run -127 docker run --rm bb:latest nosuchcmd
    [ "$status" -eq 127 ]
    [[ $output == *"executable file not found"* ]]
}

@test "a non-executable file exits 126" {
    run -126 docker run --rm bb:latest /etc/passwd
}

@test "large output arrives completely" {
    docker run --rm bb:latest seq 1 100000 >"$T/seq.out"
    [ "$(wc -l <"$T/seq.out")" -eq 100000 ]
    [ "$(head -n1 "$T/seq.out")" = 1 ]
    [ "$(tail -n1 "$T/seq.out")" = 100000 ]
    seq 1 100000 | cmp - "$T/seq.out"
}

@test "stdin is passed with -i" {
    # (a daemon that misses the stdin EOF would hang here: bounded at 30 s)
    run bash -c "echo piped | SUITE_CMD_TIMEOUT=30 docker run --rm -i bb:latest cat"
    [ "$status" -eq 0 ]
    [ "$output" = "piped" ]
}

@test "the command sees its arguments unchanged" {
    run docker run --rm bb:latest sh -c 'printf "%s|" "$@"' x 'a b' '' '$HOME'
    [ "$status" -eq 0 ]
    [ "$output" = 'a b||$HOME|' ]
}
