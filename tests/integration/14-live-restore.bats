#!/usr/bin/env bats
# 14-live-restore: containers keep running while the daemon is killed with
# SIGKILL and started again; the new daemon re-attaches to them (logs, stop)
# and notices containers that exited while it was down.
#
# shoald does this always. In dockerd mode the same checks run against
# dockerd --live-restore (containerd and the shims survive the SIGKILL);
# shoald-specific details (its monitor processes) are skipped there.

load helpers

setup_file() { suite_setup_file; }
teardown_file() { suite_teardown_file; }
teardown() { suite_teardown; }

nlines() {
    docker logs "$1" 2>&1 | wc -l
}

@test "start the containers that must survive" {
    docker run -d --name lr bb:latest sh -c 'while true; do echo tick; sleep 0.2; done'
    docker run -d --name quitter bb:latest sh -c 'sleep 3; exit 3'
    docker run -d --name stopped bb:latest sh -c 'exit 9'
    retry 50 0.1 bash -c '[[ $(docker logs lr 2>&1 | wc -l) -ge 2 ]]'
    docker inspect -f '{{.State.Pid}}' lr >"$T/lr.pid"
    [ "$(cat "$T/lr.pid")" -gt 0 ]
    retry 50 0.1 bash -c '[[ $(docker inspect -f "{{.State.Status}}" stopped) == exited ]]'
}

@test "the container's monitor is its parent, not the daemon" {
    requires_shoald "shoald's monitor process"
    local pid ppid
    pid=$(cat "$T/lr.pid")
    ppid=$(awk '{print $4}' "/proc/$pid/stat")
    [ "$ppid" != "$DAEMON_PID" ]
    [ "$ppid" -gt 1 ]
    echo "$ppid" >"$T/monitor.pid"
    # the monitor is not in the daemon's process group, so a signal to that
    # group (Ctrl-C in a terminal, kill -- -PGID) does not reach it
    [ "$(awk '{print $5}' "/proc/$ppid/stat")" != "$(awk '{print $5}' "/proc/$DAEMON_PID/stat")" ]
}

@test "kill -9 the daemon: the container keeps running" {
    local pid
    pid=$(cat "$T/lr.pid")
    daemon_kill9
    run ! pid_alive "$DAEMON_PID"
    run docker ps
    [ "$status" -ne 0 ]
    kill -0 "$pid"
    # it is still producing output with nobody attached
    sleep 1
    kill -0 "$pid"
    if [[ -s $T/monitor.pid ]]; then
        pid_alive "$(cat "$T/monitor.pid")"
    fi
}

@test "the container exiting while the daemon is down is fine" {
    # quitter exits 3 s after its start; wait until it has surely exited
    sleep 2.5
}

@test "the restarted daemon shows the container Up with the same pid" {
    daemon_start
    echo "$DAEMON_PID" >"$T/new-daemon.pid"
    run docker ps --format '{{.Names}} {{.Status}}'
    [ "$status" -eq 0 ]
    [[ $output == *"lr Up"* ]]
    [ "$(docker inspect -f '{{.State.Status}} {{.State.Pid}}' lr)" = "running $(cat "$T/lr.pid")" ]
}

@test "logs of the restored container work and new lines keep arriving" {
    local n1 n2
    run docker logs lr
    [ "$status" -eq 0 ]
    [[ ${lines[0]} == tick ]]
    n1=$(nlines lr)
    sleep 1.5
    n2=$(nlines lr)
    echo "lines: $n1 then $n2"
    ((n2 >= n1 + 3))
    # and follow works on a restored container
    run timeout 2 docker logs -f --tail 1 lr
    [ "$status" -eq 124 ]
    [ "${#lines[@]}" -ge 3 ]
}

@test "a container that exited while the daemon was down shows its exit code" {
    retry 30 0.2 bash -c '[[ $(docker inspect -f "{{.State.Status}}" quitter) == exited ]]'
    run docker inspect -f '{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}' quitter
    [ "$output" = "exited 3 false" ]
    run docker ps -a --format '{{.Names}} {{.Status}}'
    [[ $output == *"quitter Exited (3)"* ]]
    run timeout 10 docker wait quitter
    [ "$output" = 3 ]
}

@test "a container stopped before the crash is still there" {
    run docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' stopped
    [ "$output" = "exited 9" ]
}

@test "stop -t 1 works on the restored container" {
    local pid
    pid=$(cat "$T/lr.pid")
    run docker stop -t 1 lr
    [ "$status" -eq 0 ]
    [ "$(docker inspect -f '{{.State.Status}}' lr)" = exited ]
    retry 50 0.1 bash -c "! kill -0 $pid 2>/dev/null"
}

@test "a restored container can be started again and removed" {
    run docker start quitter
    [ "$status" -eq 0 ]
    run docker rm -f lr quitter stopped
    [ "$status" -eq 0 ]
    run docker ps -aq
    [ -z "$output" ]
}

@test "a clean daemon restart keeps everything too" {
    docker run -d --name lr2 bb:latest sleep 1000
    local pid
    pid=$(docker inspect -f '{{.State.Pid}}' lr2)
    daemon_stop
    kill -0 "$pid"
    daemon_start
    [ "$(docker inspect -f '{{.State.Status}} {{.State.Pid}}' lr2)" = "running $pid" ]
    docker rm -f lr2
}
