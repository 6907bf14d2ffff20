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

@test "docker cp: file to stdout, directories both ways, symlinks archived not followed" {
    docker run -d --network none --name cp1 bb:latest sh -c \
        'mkdir -p /d/sub; echo a >/d/a; echo b >/d/sub/b; ln -s /etc/shadow /d/sh; sleep 1000'
    retry 30 0.1 docker exec cp1 test -L /d/sh
    run bash -c "docker cp cp1:/etc/hostname - | tar -xO"
    [ "$status" -eq 0 ]
    [ "$output" = "$(docker inspect -f '{{.Config.Hostname}}' cp1)" ]
    docker cp cp1:/d "$T/out1"
    [ "$(cat "$T/out1/a")" = a ]
    [ "$(cat "$T/out1/sub/b")" = b ]
    [ -L "$T/out1/sh" ]
    [ "$(readlink "$T/out1/sh")" = /etc/shadow ]
    # the symlink itself, not the host's or the container's /etc/shadow
    run bash -c "docker cp cp1:/d/sh - | tar -tv"
    [[ $output == l* ]]
    [[ $output == *"sh -> /etc/shadow"* ]]
    echo hello-cp >"$T/f1"
    docker cp "$T/f1" cp1:/tmp/
    run docker exec cp1 cat /tmp/f1
    [ "$output" = hello-cp ]
    mkdir -p "$T/dir2/x"
    echo y >"$T/dir2/x/y"
    docker cp "$T/dir2" cp1:/tmp/dir2
    run docker exec cp1 cat /tmp/dir2/x/y
    [ "$output" = y ]
    run docker cp cp1:/nope -
    [ "$status" -ne 0 ]
    [[ $output == *"Could not find the file /nope in container cp1"* ]]
    run curl_api -sS -o /dev/null -w '%{http_code}' -I "http://d/v1.41/containers/cp1/archive?path=/d/a"
    [ "$output" = 200 ]
    run bash -c "curl --unix-socket $SOCK -sS -I 'http://d/v1.41/containers/cp1/archive?path=/d/a' | tr -d '\r' | sed -n 's/^X-Docker-Container-Path-Stat: //Ip' | base64 -d"
    [[ $output == *'"name":"a"'* ]]
    [[ $output == *'"size":2'* ]]
    [[ $output == *'"linkTarget":""'* ]]
    docker rm -f cp1
}

@test "docker cp into and out of a stopped container" {
    docker run --network none --name cp2 bb:latest sh -c 'echo s >/stopped'
    run bash -c "docker cp cp2:/stopped - | tar -xO"
    [ "$output" = s ]
    echo new >"$T/f2"
    docker cp "$T/f2" cp2:/f2
    docker start -a cp2 >/dev/null || true
    run bash -c "docker cp cp2:/f2 - | tar -xO"
    [ "$output" = new ]
    # nothing stays mounted on the host
    run ! grep -q "$T/d/containers" /proc/self/mountinfo
    docker rm cp2
}

@test "docker cp PUT: symlinks in the archive or the container never lead outside its root" {
    docker run -d --network none --name cp3 bb:latest sh -c 'mkdir /d; ln -s / /d/up; sleep 1000'
    retry 30 0.1 docker exec cp3 test -L /d/up
    local host_dir
    host_dir=$(mktemp -d /tmp/shoal-cp-host.XXXXXX)
    python3 - "$T/evil.tar" "$host_dir" <<'PY'
import io, sys, tarfile
t = tarfile.open(sys.argv[1], 'w')
def add(name, data=b'', typ=tarfile.REGTYPE, link=''):
    i = tarfile.TarInfo(name); i.type = typ; i.linkname = link; i.size = len(data)
    t.addfile(i, io.BytesIO(data) if typ == tarfile.REGTYPE else None)
add('esc', typ=tarfile.SYMTYPE, link='/tmp')
add('esc/via-abs-link', b'1')
add('up/tmp/via-container-link', b'2')
add('rel', typ=tarfile.SYMTYPE, link='../../../../../../../../tmp')
add('rel/via-rel-link', b'3')
t.close()
t = tarfile.open(sys.argv[1] + '.dotdot', 'w')
i = tarfile.TarInfo('../../../../../../..' + sys.argv[2] + '/dotdot'); i.size = 1
t.addfile(i, io.BytesIO(b'x'))
t.close()
PY
    run curl_api -sS -o /dev/null -w '%{http_code}' -X PUT -T "$T/evil.tar" \
        "http://d/v1.41/containers/cp3/archive?path=/d"
    [ "$output" = 200 ]
    [ ! -e /tmp/via-abs-link ]
    [ ! -e /tmp/via-container-link ]
    [ ! -e /tmp/via-rel-link ]
    run docker exec cp3 cat /tmp/via-abs-link /tmp/via-container-link /tmp/via-rel-link
    [ "$output" = 123 ]
    run curl_api -sS -X PUT -T "$T/evil.tar.dotdot" "http://d/v1.41/containers/cp3/archive?path=/d"
    [[ $output == *"invalid archive entry name"* ]]
    [ ! -e "$host_dir/dotdot" ]
    rmdir "$host_dir"
    docker rm -f cp3
}
