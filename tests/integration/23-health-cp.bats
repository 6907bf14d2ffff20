#!/usr/bin/env bats
# Health checks and docker cp (issue 6).

load helpers

setup_file() { suite_setup_file; }
teardown_file() { suite_teardown_file; }
teardown() { suite_teardown; }

health() {
    docker inspect -f '{{.State.Health.Status}}' "$1"
}

@test "health check: starting -> healthy -> unhealthy when the check starts failing, events" {
    local since
    since=$(date +%s)
    docker run -d --network none --name h1 --health-cmd 'test ! -e /tmp/bad' --health-interval 300ms \
        --health-retries 2 --health-timeout 2s bb:latest sleep 1000
    run health h1
    [ "$output" = starting ]
    retry 50 0.1 bash -c '[ "$(docker inspect -f "{{.State.Health.Status}}" h1)" = healthy ]'
    run docker ps --filter name=h1 --format '{{.Status}}'
    [[ $output =~ ^Up\ .*\(healthy\)$ ]]
    run shoal ps --filter name=h1 --format '{{.Status}}'
    [[ $output =~ \(healthy\)$ ]]
    docker exec h1 touch /tmp/bad
    retry 50 0.1 bash -c '[ "$(docker inspect -f "{{.State.Health.Status}}" h1)" = unhealthy ]'
    run docker inspect -f '{{.State.Health.FailingStreak}}' h1
    [ "$output" -ge 2 ]
    run docker inspect -f '{{len .State.Health.Log}}' h1
    [ "$output" -le 5 ]
    run bash -c "docker inspect h1 | python3 -c 'import json,sys; l=json.load(sys.stdin)[0][\"State\"][\"Health\"][\"Log\"]; print(l[-1][\"ExitCode\"], sorted(l[-1]))'"
    [ "$output" = "1 ['End', 'ExitCode', 'Output', 'Start']" ]
    run docker ps --filter name=h1 --format '{{.Status}}'
    [[ $output == *"(unhealthy)" ]]
    # and back
    docker exec h1 rm /tmp/bad
    retry 50 0.1 bash -c '[ "$(docker inspect -f "{{.State.Health.Status}}" h1)" = healthy ]'
    run docker events --since "$since" --until "$(($(date +%s) + 1))" --filter container=h1 \
        --filter event=health_status --format '{{.Action}}'
    [[ $output == *"health_status: healthy"* ]]
    [[ $output == *"health_status: unhealthy"* ]]
    docker rm -f h1
}

@test "health check: failures in the start period do not count; output is logged" {
    docker run -d --network none --name h2 --health-cmd 'echo probe-out; exit 1' --health-interval 200ms \
        --health-retries 1 --health-start-period 3s bb:latest sleep 1000
    sleep 1.5
    run health h2
    [ "$output" = starting ]
    run docker inspect -f '{{.State.Health.FailingStreak}}' h2
    [ "$output" = 0 ]
    run docker inspect -f '{{(index .State.Health.Log 0).Output}}' h2
    [[ $output == *probe-out* ]]
    retry 50 0.1 bash -c '[ "$(docker inspect -f "{{.State.Health.Status}}" h2)" = unhealthy ]'
    docker rm -f h2
}

@test "health check: timeout kills the probe; NONE disables; restart resets" {
    docker run -d --network none --name h3 --health-cmd 'sleep 10' --health-interval 200ms \
        --health-timeout 300ms --health-retries 1 bb:latest sleep 1000
    retry 50 0.1 bash -c '[ "$(docker inspect -f "{{.State.Health.Status}}" h3)" = unhealthy ]'
    run docker inspect -f '{{(index .State.Health.Log 0).ExitCode}} {{(index .State.Health.Log 0).Output}}' h3
    [[ $output == "-1 Health check exceeded timeout"* ]]
    docker stop -t 1 h3
    docker start h3
    run health h3
    [ "$output" = starting ]
    docker rm -f h3
    docker run -d --network none --name h4 --no-healthcheck bb:latest sleep 1000
    run docker inspect -f '{{.State.Health}}' h4
    [ "$output" = "<nil>" ]
    run docker ps --filter name=h4 --format '{{.Status}}'
    [[ $output != *health* ]]
    docker rm -f h4
}
