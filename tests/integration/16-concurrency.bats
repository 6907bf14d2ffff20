#!/usr/bin/env bats
# 16-concurrency: many clients at once.

load helpers

setup_file() { suite_setup_file; }
teardown_file() { suite_teardown_file; }
teardown() { suite_teardown; }

@test "20 parallel docker run --rm each print their own number" {
    local i pids=() failed=0
    for i in $(seq 1 20); do
        docker run --rm bb:latest echo "n$i" >"$T/run.$i" 2>"$T/run.$i.err" &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || {
            echo "run $((i + 1)) failed: $(cat "$T/run.$((i + 1)).err")"
            failed=1
        }
    done
    [ "$failed" -eq 0 ]
    for i in $(seq 1 20); do
        [ "$(cat "$T/run.$i")" = "n$i" ] || {
            echo "run $i printed '$(cat "$T/run.$i")'"
            false
        }
    done
    # --rm removed them all
    retry 50 0.1 bash -c '[[ -z $(docker ps -aq) ]]'
}

@test "50 parallel docker ps all succeed" {
    docker run -d --name bg bb:latest sleep 1000
    local i pids=() failed=0
    for i in $(seq 1 50); do
        docker ps --format '{{.Names}}' >"$T/ps.$i" 2>&1 &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || failed=1
    done
    [ "$failed" -eq 0 ]
    for i in $(seq 1 50); do
        [ "$(cat "$T/ps.$i")" = bg ]
    done
}

@test "parallel logs, inspect and ps while containers start and stop" {
    local i pids=() failed=0
    for i in $(seq 1 10); do
        docker run -d --name "c$i" bb:latest sh -c "echo hi$i; sleep 1000" >/dev/null &
        pids+=($!)
        docker ps -a >/dev/null &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || failed=1
    done
    [ "$failed" -eq 0 ]
    pids=()
    for i in $(seq 1 10); do
        retry 50 0.1 bash -c "docker logs c$i | grep -qx hi$i"
        docker inspect -f '{{.State.Status}}' "c$i" >"$T/st.$i" &
        pids+=($!)
        docker stop -t 0 "c$i" >/dev/null &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || failed=1
    done
    [ "$failed" -eq 0 ]
    for i in $(seq 1 10); do
        [ "$(docker inspect -f '{{.State.Status}}' "c$i")" = exited ]
    done
    run docker ps -q
    [ "$(docker ps -q | wc -l)" -eq 1 ]
}

@test "parallel rm -f of many containers" {
    run bash -c 'docker ps -aq | xargs -P 10 -n 1 docker rm -f'
    [ "$status" -eq 0 ]
    run docker ps -aq
    [ -z "$output" ]
}
