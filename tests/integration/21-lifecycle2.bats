#!/usr/bin/env bats
# Restart policies, pause/unpause, rename, prune, log rotation (issue 6).

load helpers

setup_file() { suite_setup_file; }
teardown_file() { suite_teardown_file; }
teardown() { suite_teardown; }

restart_count_at_least() {
    local n
    n=$(docker inspect -f '{{.RestartCount}}' "$1") || return 1
    ((n >= $2))
}

is_running() {
    [[ $(docker inspect -f '{{.State.Status}}' "$1") == running ]]
}

is_exited() {
    [[ $(docker inspect -f '{{.State.Status}}' "$1") == exited ]]
}

@test "restart always: a container whose process dies is restarted" {
    docker run -d --name ra --restart always bb:latest sleep 1000
    local pid
    pid=$(docker inspect -f '{{.State.Pid}}' ra)
    kill -9 "$pid"
    retry 50 0.1 restart_count_at_least ra 1
    retry 50 0.1 is_running ra
    [ "$(docker inspect -f '{{.HostConfig.RestartPolicy.Name}}' ra)" = always ]
    docker rm -f ra
}

@test "restart always survives kill -9 of the daemon: restarted at daemon start" {
    requires_shoald "daemon restart"
    docker run -d --name rk --restart always bb:latest sleep 1000
    local pid n0
    pid=$(docker inspect -f '{{.State.Pid}}' rk)
    n0=$(docker inspect -f '{{.RestartCount}}' rk)
    daemon_kill9
    kill -9 "$pid"
    sleep 1.5
    daemon_start
    retry 50 0.1 is_running rk
    retry 50 0.1 restart_count_at_least rk $((n0 + 1))
    docker rm -f rk
}

@test "restart on-failure:3 stops after three restarts" {
    docker run -d --name rf --restart on-failure:3 bb:latest sh -c 'exit 1'
    retry 100 0.1 restart_count_at_least rf 3
    # back-off: 100+200+400 ms; then it stays exited
    sleep 2
    run docker inspect -f '{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}' rf
    [ "$status" -eq 0 ]
    [ "$output" = "exited 3 1" ]
    docker rm -f rf
}

@test "unless-stopped + docker stop stays stopped across a daemon restart" {
    requires_shoald "daemon restart"
    docker run -d --name ru --restart unless-stopped bb:latest sleep 1000
    docker stop -t 0 ru
    daemon_stop
    daemon_start
    sleep 1
    is_exited ru
    docker rm -f ru
}

@test "docker restart restarts a running container" {
    docker run -d --name rr bb:latest sleep 1000
    local p1 p2
    p1=$(docker inspect -f '{{.State.Pid}}' rr)
    run docker restart -t 0 rr
    [ "$status" -eq 0 ]
    [ "$output" = rr ]
    p2=$(docker inspect -f '{{.State.Pid}}' rr)
    [ "$p1" != "$p2" ]
    is_running rr
    docker rm -f rr
}

@test "pause freezes the container, unpause resumes it" {
    docker run -d --name pz bb:latest sh -c 'while true; do echo x; sleep 0.1; done'
    sleep 0.5
    docker pause pz
    run docker ps --filter name=pz --format '{{.Status}}'
    [[ $output == *"(Paused)" ]]
    [ "$(docker inspect -f '{{.State.Status}} {{.State.Paused}}' pz)" = "paused true" ]
    local n1 n2 n3
    n1=$(docker logs pz | wc -l)
    sleep 1
    n2=$(docker logs pz | wc -l)
    [ "$n1" -eq "$n2" ]
    run docker pause pz
    [ "$status" -ne 0 ]
    docker unpause pz
    sleep 0.5
    n3=$(docker logs pz | wc -l)
    [ "$n3" -gt "$n2" ]
    # a paused container can be stopped (it is thawed for the signal)
    docker pause pz
    docker stop -t 1 pz
    is_exited pz
    docker rm pz
}

@test "rename, and 409 on a name in use" {
    docker create --name rn1 bb:latest true
    docker create --name rn2 bb:latest true
    docker rename rn1 rn3
    [ "$(docker inspect -f '{{.Name}}' rn3)" = /rn3 ]
    run docker rename rn3 rn2
    [ "$status" -ne 0 ]
    [[ $output == *"already in use"* ]]
    run curl_api -s -o /dev/null -w '%{http_code}' -X POST "http://d/v1.41/containers/rn3/rename?name=rn2"
    [ "$output" = 409 ]
    docker rm rn2 rn3
}

@test "container prune removes stopped containers only, with label filters" {
    docker run --name pr1 --label keep=no bb:latest true
    docker run --name pr2 --label keep=yes bb:latest true
    docker run -d --name pr3 bb:latest sleep 1000
    run docker container prune -f --filter label=keep=no
    [ "$status" -eq 0 ]
    [[ $output == *"Deleted Containers:"* ]]
    run docker inspect pr1
    [ "$status" -ne 0 ]
    docker inspect pr2 >/dev/null
    run curl_api -sS -X POST "http://d/v1.41/containers/prune"
    [[ $output == *'"ContainersDeleted":['* ]]
    [[ $output == *'"SpaceReclaimed":'* ]]
    run docker inspect pr2
    [ "$status" -ne 0 ]
    is_running pr3
    docker rm -f pr3
}

@test "log rotation: max-size/max-file keep several files, logs reads them in order" {
    docker run --name lr --log-opt max-size=2k --log-opt max-file=3 bb:latest \
        sh -c 'i=0; while [ $i -lt 60 ]; do echo line$i; i=$((i+1)); done'
    local logpath
    logpath=$(docker inspect -f '{{.LogPath}}' lr)
    if ! is_dockerd; then
        [ -f "$logpath.1" ]
        [ -f "$logpath.2" ]
        [ ! -f "$logpath.3" ]
    fi
    run docker logs lr
    [ "$status" -eq 0 ]
    # the newest lines survive, in order, ending with line59
    [ "${lines[-1]}" = line59 ]
    local prev=-1 l n
    for l in "${lines[@]}"; do
        n=${l#line}
        [ "$n" -eq $((prev + 1)) ] || [ "$prev" -eq -1 ]
        prev=$n
    done
    run docker logs --tail 5 lr
    [ "${#lines[@]}" -eq 5 ]
    [ "${lines[0]}" = line55 ]
    run docker run --rm --log-opt max-file=2 bb:latest true
    [ "$status" -ne 0 ]
    docker rm lr
}

@test "shoal CLI: pause, unpause, rename, restart, container prune" {
    requires_shoal_cli
    shoal run -d --name sc1 bb:latest sleep 1000
    shoal pause sc1
    [ "$(docker inspect -f '{{.State.Paused}}' sc1)" = true ]
    shoal unpause sc1
    shoal rename sc1 sc2
    run shoal restart -t 0 sc2
    [ "$status" -eq 0 ]
    [ "$output" = sc2 ]
    shoal stop -t 0 sc2
    run shoal container prune -f
    [ "$status" -eq 0 ]
    [[ $output == *"Total reclaimed space:"* ]]
    run docker inspect sc2
    [ "$status" -ne 0 ]
}
