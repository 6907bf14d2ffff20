#!/usr/bin/env bats
# docker events and docker stats (issue 6).

load helpers

setup_file() { suite_setup_file; }
teardown_file() { suite_teardown_file; }
teardown() { suite_teardown; }

@test "docker stats --no-stream shows memory and CPU%" {
    docker run -d --name st1 bb:latest sh -c 'while true; do :; done'
    sleep 1
    run docker stats --no-stream --format '{{.Name}} {{.CPUPerc}} {{.MemUsage}}' st1
    [ "$status" -eq 0 ]
    [[ $output =~ ^st1\ [0-9.]+%\ [0-9.]+[KMG]i?B\ /\ [0-9.]+[KMG]i?B$ ]]
    # a busy loop uses CPU
    local cpu=${output#st1 }
    cpu=${cpu%%%*}
    python3 -c "import sys; sys.exit(0 if float('$cpu') > 5 else 1)"
    run curl_api -sS "http://d/v1.41/containers/st1/stats?stream=0&one-shot=1"
    [[ $output == *'"memory_stats":{'* ]]
    [[ $output == *'"system_cpu_usage":'* ]]
    [[ $output == *'"online_cpus":'* ]]
    docker rm -f st1
}

@test "docker events --since/--until sees create/start/die/destroy" {
    local since until
    since=$(date +%s)
    docker run --rm --name ev1 bb:latest true
    until=$(($(date +%s) + 1))
    run docker events --since "$since" --until "$until" --filter container=ev1 \
        --format '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}'
    [ "$status" -eq 0 ]
    [[ $output == *"container create ev1"* ]]
    [[ $output == *"container start ev1"* ]]
    [[ $output == *"container die ev1"* ]]
    [[ $output == *"container destroy ev1"* ]]
    run docker events --since "$since" --until "$until" --filter event=die --filter container=ev1 --format "{{.Actor.Attributes.exitCode}}"
    [ "$output" = 0 ]
}

@test "events stream live and end at --until" {
    local until
    until=$(($(date +%s) + 3))
    docker events --until "$until" --filter type=container --format '{{.Action}} {{.Actor.Attributes.name}}' >"$T/ev.out" &
    local pid=$!
    sleep 0.5
    docker run -d --name ev2 bb:latest sleep 1000
    docker pause ev2
    docker unpause ev2
    docker kill ev2
    wait "$pid"
    grep -q "create ev2" "$T/ev.out"
    grep -q "pause ev2" "$T/ev.out"
    grep -q "unpause ev2" "$T/ev.out"
    grep -q "kill ev2" "$T/ev.out"
    grep -q "die ev2" "$T/ev.out"
    docker rm ev2
}

@test "shoal CLI: stats --no-stream and events" {
    requires_shoal_cli
    shoal run -d --name sst bb:latest sleep 1000
    run shoal stats --no-stream sst
    [ "$status" -eq 0 ]
    [[ ${lines[0]} == "CONTAINER ID"*"CPU %"*"MEM USAGE / LIMIT"* ]]
    [[ ${lines[1]} == *sst*%* ]]
    local since
    since=$(date +%s)
    shoal rm -f sst
    run shoal events --since "$since" --until $(($(date +%s) + 1)) --filter container=sst
    [ "$status" -eq 0 ]
    [[ $output == *"container destroy"* ]]
}
