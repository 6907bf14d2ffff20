#!/usr/bin/env bats
# 12-lifecycle: detached containers: run -d, ps, logs, stop, kill, rm, create,
# start, wait, inspect, restart, and the errors of each.

load helpers

setup_file() { suite_setup_file; }
teardown_file() { suite_teardown_file; }
teardown() { suite_teardown; }

# state NAME - print .State.Status
state() {
    docker inspect -f '{{.State.Status}}' "$1"
}

@test "run -d prints the full container id" {
    run docker run -d --name s1 bb:latest sleep 1000
    [ "$status" -eq 0 ]
    [[ $output =~ ^[0-9a-f]{64}$ ]]
    echo "$output" >"$T/s1.id"
    [ "$(state s1)" = running ]
}

@test "ps lists the running container" {
    local id
    id=$(cat "$T/s1.id")
    run docker ps
    [ "$status" -eq 0 ]
    [[ ${lines[0]} == *"CONTAINER ID"*NAMES* ]]
    [[ $output == *"${id:0:12}"*"bb:latest"*'"sleep 1000"'*s1* ]]
    run docker ps --format '{{.Names}} {{.Image}} {{.Status}}'
    [[ $output == *"s1 bb:latest Up"* ]]
    run docker ps -q
    [ "$status" -eq 0 ]
    [[ $output == *"${id:0:12}"* ]]
    run docker ps -q --no-trunc
    [[ $output == *"$id"* ]]
    run docker ps --no-trunc
    [[ $output == *"$id"* ]]
}

@test "ps hides exited containers, ps -a shows them" {
    docker run --name exited1 bb:latest sh -c 'exit 3' || true
    run docker ps --format '{{.Names}}'
    [[ $output != *exited1* ]]
    run docker ps -a --format '{{.Names}} {{.Status}}'
    [ "$status" -eq 0 ]
    [[ $output == *"exited1 Exited (3)"* ]]
    [[ $output == *"s1 Up"* ]]
    docker rm exited1
}

@test "ps --filter name= and -f status= work" {
    run docker ps -a --filter name=s1 --format '{{.Names}}'
    [ "$output" = s1 ]
    run docker ps -a -f status=running --format '{{.Names}}'
    [[ $output == *s1* ]]
}

@test "logs shows what the container printed" {
    docker run -d --name lg bb:latest sh -c 'echo one; echo two >&2; echo three; sleep 1000'
    retry 50 0.1 bash -c '[[ $(docker logs lg 2>&1 | wc -l) -ge 3 ]]'
    run docker logs lg
    [ "$status" -eq 0 ]
    [[ $output == *one* && $output == *two* && $output == *three* ]]
    # stdout and stderr stay apart
    run bash -c 'docker logs lg 2>/dev/null'
    [ "$output" = "$(printf 'one\nthree')" ]
    run bash -c 'docker logs lg 2>&1 >/dev/null'
    [ "$output" = two ]
    # (the CLI writes the two streams separately: compare stdout only)
    run bash -c 'docker logs --tail 1 lg 2>&1 | wc -l'
    [ "$output" = 1 ]
    run bash -c 'docker logs -t lg 2>/dev/null'
    [[ ${lines[0]} =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z\ one$ ]]
    docker rm -f lg
}

@test "logs --tail N shows the last N lines" {
    docker run --name lt bb:latest seq 1 5
    run docker logs --tail 2 lt
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf '4\n5')" ]
    run docker logs --tail 0 lt
    [ -z "$output" ]
    docker rm lt
}

@test "logs -f follows until the container exits" {
    docker run -d --name lf bb:latest sh -c 'for i in 1 2 3; do echo l$i; sleep 0.3; done'
    run timeout 20 docker logs -f lf
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf 'l1\nl2\nl3')" ]
    docker rm lf
}

@test "stop -t 1 kills a container that ignores SIGTERM (exit 137)" {
    local t0 t1
    t0=$(date +%s%N)
    run docker stop -t 1 s1
    t1=$(date +%s%N)
    [ "$status" -eq 0 ]
    [ "$output" = s1 ]
    # sleep as PID 1 ignores SIGTERM: the stop must wait ~1 s and then SIGKILL
    (((t1 - t0) >= 900000000))
    (((t1 - t0) < 15000000000))
    [ "$(state s1)" = exited ]
    run docker inspect -f '{{.State.ExitCode}}' s1
    [ "$output" = 137 ]
}

@test "stop of a stopped container succeeds" {
    run docker stop s1
    [ "$status" -eq 0 ]
    [ "$(state s1)" = exited ]
}

@test "restart of a stopped container runs it again" {
    run docker restart -t 1 s1
    [ "$status" -eq 0 ]
    [ "$(state s1)" = running ]
    run docker ps --format '{{.Names}}'
    [[ $output == *s1* ]]
    docker stop -t 0 s1
}

@test "rm removes a stopped container" {
    run docker rm s1
    [ "$status" -eq 0 ]
    [ "$output" = s1 ]
    run docker ps -a --format '{{.Names}}'
    [[ $output != *s1* ]]
    run docker inspect s1
    [ "$status" -eq 1 ]
}

@test "rm without -f refuses a running container" {
    docker run -d --name busy bb:latest sleep 1000
    run docker rm busy
    [ "$status" -ne 0 ]
    [[ $output == *"You cannot remove a running container"* ]]
    [ "$(state busy)" = running ]
}

@test "rm -f removes a running container" {
    local pid
    pid=$(docker inspect -f '{{.State.Pid}}' busy)
    [ "$pid" -gt 0 ]
    run docker rm -f busy
    [ "$status" -eq 0 ]
    run docker inspect busy
    [ "$status" -eq 1 ]
    # the container's process is gone
    retry 50 0.1 bash -c "! kill -0 $pid 2>/dev/null"
}

@test "create + start + wait gives the exit code" {
    run docker create --name cw bb:latest sh -c 'sleep 0.5; exit 42'
    [ "$status" -eq 0 ]
    [[ $output =~ ^[0-9a-f]{64}$ ]]
    [ "$(state cw)" = created ]
    run docker ps -a --format '{{.Names}} {{.Status}}'
    [[ $output == *"cw Created"* ]]
    run docker start cw
    [ "$status" -eq 0 ]
    [ "$output" = cw ]
    run docker wait cw
    [ "$status" -eq 0 ]
    [ "$output" = 42 ]
    [ "$(state cw)" = exited ]
    # wait on an exited container returns at once
    run timeout 10 docker wait cw
    [ "$output" = 42 ]
    docker rm cw
}

@test "start -a attaches and returns the exit code" {
    docker create --name ca bb:latest sh -c 'echo attached; exit 5'
    run docker start -a ca
    [ "$status" -eq 5 ]
    [ "$output" = attached ]
    docker rm ca
}

@test "kill -s TERM stops a shell that handles TERM" {
    docker run -d --name kt bb:latest sh -c 'trap "exit 12" TERM; while true; do sleep 0.1; done'
    run docker kill -s TERM kt
    [ "$status" -eq 0 ]
    run timeout 10 docker wait kt
    [ "$output" = 12 ]
    docker rm kt
}

@test "kill (default SIGKILL) gives exit code 137" {
    docker run -d --name kk bb:latest sleep 1000
    run docker kill kk
    [ "$status" -eq 0 ]
    run timeout 10 docker wait kk
    [ "$output" = 137 ]
    docker rm kk
}

@test "kill of a stopped container fails" {
    docker create --name kdead bb:latest true
    run docker kill kdead
    [ "$status" -ne 0 ]
    [[ $output == *"is not running"* ]]
    docker rm kdead
}

@test "inspect shows state, config and host config" {
    docker run -d --name s1 -m 64m bb:latest sleep 1000
    run docker inspect s1
    [ "$status" -eq 0 ]
    echo "$output" >"$T/i.json"
    local id
    id=$(json_get 0.Id "$T/i.json")
    [[ $id =~ ^[0-9a-f]{64}$ ]]
    [ "$(json_get 0.Name "$T/i.json")" = /s1 ]
    [ "$(json_get 0.State.Status "$T/i.json")" = running ]
    [ "$(json_get 0.State.Running "$T/i.json")" = true ]
    [ "$(json_get 0.State.ExitCode "$T/i.json")" = 0 ]
    [ "$(json_get 0.State.Pid "$T/i.json")" -gt 0 ]
    [ "$(json_get 0.Config.Cmd "$T/i.json")" = '["sleep", "1000"]' ]
    [ "$(json_get 0.Config.Image "$T/i.json")" = bb:latest ]
    [ "$(json_get 0.HostConfig.Memory "$T/i.json")" = 67108864 ]
    [[ $(json_get 0.Image "$T/i.json") =~ ^sha256:[0-9a-f]{64}$ ]]
    [[ $(json_get 0.Created "$T/i.json") =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T ]]
    [[ $(json_get 0.State.StartedAt "$T/i.json") =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T ]]
    # -f templates, by name, by full id and by short id
    run docker inspect -f '{{.Name}} {{.State.Status}} {{.HostConfig.Memory}}' s1
    [ "$output" = "/s1 running 67108864" ]
    run docker inspect -f '{{.Name}}' "$id"
    [ "$output" = /s1 ]
    run docker inspect -f '{{.Name}}' "${id:0:12}"
    [ "$output" = /s1 ]
    # the pid is a real process on the host
    kill -0 "$(json_get 0.State.Pid "$T/i.json")"
}

@test "a duplicate --name is a conflict" {
    run docker run -d --name s1 bb:latest sleep 1000
    [ "$status" -eq 125 ]
    [[ $output == *Conflict* ]]
    [[ $output == *'"/s1" is already in use'* ]]
    run docker create --name s1 bb:latest true
    [ "$status" -ne 0 ]
    [[ $output == *Conflict* ]]
}

@test "operations on an unknown container fail with 'No such container'" {
    local cmd
    # (plain `docker inspect` says "No such object"; `container inspect` is specific)
    for cmd in stop rm logs 'container inspect' kill start; do
        # shellcheck disable=SC2086
        run docker $cmd nosuch
        [ "$status" -eq 1 ]
        [[ $output == *"No such container: nosuch"* ]] || {
            echo "$cmd: $output"
            false
        }
    done
}

@test "rm -f of several containers at once" {
    docker run -d --name m1 bb:latest sleep 1000
    docker create --name m2 bb:latest true
    run docker rm -f m1 m2 s1
    [ "$status" -eq 0 ]
    run docker ps -a --format '{{.Names}}'
    [[ $output != *m1* && $output != *m2* && $output != *s1* ]]
}
