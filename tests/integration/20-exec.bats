#!/usr/bin/env bats
# 20-exec: docker exec (plain, -i, -t, -d, -u, -w, -e), exit codes, the
# container's security and namespaces inside an exec, TTYs, docker top, many
# concurrent execs, and the same through `shoal exec` / `shoal top`.

load helpers

setup_file() {
    suite_setup_file
    docker run -d --name ex bb:latest sleep 1000 >/dev/null
    docker run -d --name exnnp --security-opt no-new-privileges bb:latest sleep 1000 >/dev/null
}
teardown_file() { suite_teardown_file; }
teardown() { suite_teardown; }

# pty_run CMD - run CMD under a pseudo-terminal of 100x40, stdin kept open 3 s.
# Use $DOCKER_BIN, not the `docker` wrapper: timeout(1) would run it in a
# background process group of the pty (SIGTTIN).
pty_run() {
    (sleep 3) | timeout 20 script -qec "stty cols 100 rows 40; $1" /dev/null
}

@test "exec prints the output and exits 0" {
    run docker exec ex echo hi
    [ "$status" -eq 0 ]
    [ "$output" = "hi" ]
}

@test "exec propagates the exit code and both streams" {
    run docker exec ex sh -c 'echo out; echo err >&2; exit 3'
    [ "$status" -eq 3 ]
    [[ $output == *out* && $output == *err* ]]
}

@test "exec -i feeds piped stdin" {
    run bash -c 'echo hi | docker exec -i ex cat'
    [ "$status" -eq 0 ]
    [ "$output" = "hi" ]
}

@test "exec -u -w -e" {
    run docker exec -u nobody ex id -u
    [ "$output" = "65534" ]
    run docker exec -w /tmp ex pwd
    [ "$output" = "/tmp" ]
    run docker exec -e A=1 ex sh -c 'echo $A'
    [ "$output" = "1" ]
}

@test "exec of a missing binary fails like docker (126)" {
    run docker exec ex nope
    [ "$status" -eq 126 ]
    [[ $output == *'OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": executable file not found in $PATH'* ]]
}

@test "exec on a stopped container is refused" {
    docker create --name exstopped bb:latest true >/dev/null
    run docker exec exstopped echo hi
    [ "$status" -ne 0 ]
    [[ $output == *"is not running"* ]]
    docker rm exstopped >/dev/null
}

@test "unknown exec id is a 404" {
    run curl_api -s -o /dev/null -w '%{http_code}' http://d/v1.41/exec/nope/json
    [ "$output" = "404" ]
}

@test "an exec has the container's capabilities, seccomp and no_new_privs" {
    run docker exec ex grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status
    [[ $output == *"CapEff:	00000000a80425fb"* ]]
    [[ $output == *"Seccomp:	2"* ]]
    [[ $output == *"NoNewPrivs:	0"* ]]
    run docker exec exnnp grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status
    [[ $output == *"CapEff:	00000000a80425fb"* ]]
    [[ $output == *"Seccomp:	2"* ]]
    [[ $output == *"NoNewPrivs:	1"* ]]
}

@test "an exec is in the container's pid namespace and cgroup" {
    run docker exec ex ps -o pid,args
    [ "$status" -eq 0 ]
    [[ $output == *"sleep 1000"* ]]
    # only the container's processes: sleep, ps, and the header
    [ "${#lines[@]}" -eq 3 ]
    id=$(docker inspect -f '{{.Id}}' ex)
    run docker exec ex cat /proc/self/cgroup
    [[ $output == *"$id"* ]]
}

@test "exec -d runs in the background" {
    docker exec -d ex sh -c 'echo bg > /tmp/bg'
    retry 50 0.1 docker exec ex test -s /tmp/bg
}

@test "exec -it under a pty gets a tty of the client's size" {
    run pty_run "$DOCKER_BIN exec -it ex sh -c 'stty size; tty; echo T=\$TERM'"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ $output == *"40 100"* ]]
    [[ $output == *"/dev/pts/"* ]]
    [[ $output == *"T=xterm"* ]]
}

@test "exec -it sh ends on Ctrl-D" {
    run bash -c "(sleep 1; printf 'echo in-exec\n'; sleep 0.5; printf '\004'; sleep 1) |
        timeout 20 script -qec '$DOCKER_BIN exec -it ex sh' /dev/null"
    [ "$status" -eq 0 ]
    [[ $output == *in-exec* ]]
}

@test "run -it --rm sh under a pty" {
    run bash -c "(sleep 1; printf 'echo hello; exit 7\n'; sleep 2) |
        timeout 20 script -qec '$DOCKER_BIN run -it --rm bb:latest sh' /dev/null"
    [ "$status" -eq 7 ]
    [[ $output == *hello* ]]
}

@test "detach keys leave a tty container running" {
    run bash -c "(sleep 1.5; printf '\020\021'; sleep 1) |
        timeout 20 script -qec '$DOCKER_BIN run -it --name exdet bb:latest sh' /dev/null"
    [ "$(docker inspect -f '{{.State.Running}}' exdet)" = "true" ]
    docker rm -f exdet >/dev/null
}

@test "server-side detach keys end an exec stream, the exec keeps running" {
    requires_shoald "raw protocol check"
    id=$(curl_api -s -X POST -H 'Content-Type: application/json' \
        -d '{"Cmd":["sleep","30"],"Tty":true,"AttachStdin":true,"AttachStdout":true,"DetachKeys":"ctrl-x"}' \
        http://d/v1.41/containers/ex/exec | json_get Id)
    run timeout 10 python3 - "$SOCK" "$id" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
body = b'{"Detach":false,"Tty":true}'
s.sendall(b"POST /v1.41/exec/%s/start HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
          b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (sys.argv[2].encode(), len(body), body))
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(1)
assert b"101" in head.split(b"\r\n")[0], head
s.sendall(b"\x18")
while s.recv(4096):
    pass
print("closed")
EOF
    [ "$output" = "closed" ]
    [ "$(curl_api -s http://d/v1.41/exec/$id/json | json_get Running)" = "True" ] ||
        [ "$(curl_api -s http://d/v1.41/exec/$id/json | json_get Running)" = "true" ]
}

@test "exec inspect shows the exit code and process config" {
    id=$(curl_api -s -X POST -H 'Content-Type: application/json' \
        -d '{"Cmd":["sh","-c","exit 5"],"AttachStdout":true}' \
        http://d/v1.41/containers/ex/exec | json_get Id)
    curl_api -s -X POST -H 'Content-Type: application/json' -d '{"Detach":true}' \
        "http://d/v1.41/exec/$id/start"
    for _ in $(seq 1 50); do
        code=$(curl_api -s "http://d/v1.41/exec/$id/json" | json_get ExitCode)
        [ "$code" = "5" ] && break
        sleep 0.1
    done
    [ "$code" = "5" ]
    [ "$(curl_api -s "http://d/v1.41/exec/$id/json" | json_get ProcessConfig.entrypoint)" = "sh" ]
}

@test "docker top lists the container's processes" {
    run docker top ex
    [ "$status" -eq 0 ]
    [[ ${lines[0]} == UID*PID*PPID*C*STIME*TTY*TIME*CMD ]]
    [[ $output == *"sleep 1000"* ]]
}

@test "100 concurrent execs each return their own output; shoald stays up" {
    local i failed=0
    for i in $(seq 1 100); do
        docker exec ex echo "n$i" >"$T/ex.$i" 2>&1 &
    done
    wait
    for i in $(seq 1 100); do
        [ "$(cat "$T/ex.$i")" = "n$i" ] || {
            echo "exec $i printed '$(cat "$T/ex.$i")'"
            failed=1
        }
    done
    [ "$failed" -eq 0 ]
    run docker exec ex echo still
    [ "$output" = "still" ]
}

@test "memory: monitor stays small, shoald does not grow unboundedly" {
    requires_shoald "shoal monitor memory"
    # ASan keeps freed memory in quarantine: RSS says nothing there
    [[ ${SHOAL_BUILD:-build} != *asan* ]] || skip "RSS is not meaningful under ASan"
    local mon pid rss1 rss2 i
    pid=$(docker inspect -f '{{.State.Pid}}' ex)
    mon=$(awk '{print $4}' "/proc/$pid/stat")
    for i in $(seq 1 100); do docker exec ex true & done
    wait
    rss1=$(awk '/VmRSS/{print $2}' "/proc/$DAEMON_PID/status")
    for i in $(seq 1 200); do docker exec ex true & done
    wait
    rss2=$(awk '/VmRSS/{print $2}' "/proc/$DAEMON_PID/status")
    mrss=$(awk '/VmRSS/{print $2}' "/proc/$mon/status")
    echo "monitor ${mrss} KiB, shoald ${rss1} -> ${rss2} KiB"
    [ "$mrss" -lt 1536 ]
    [ "$rss2" -lt $((rss1 + 4096)) ]
}

@test "shoal exec and shoal top" {
    requires_shoal_cli
    run shoal exec ex echo hi
    [ "$status" -eq 0 ]
    [ "$output" = "hi" ]
    run shoal exec ex sh -c 'exit 3'
    [ "$status" -eq 3 ]
    run bash -c 'echo hi | shoal exec -i ex cat'
    [ "$output" = "hi" ]
    run shoal exec -u nobody -w /tmp -e A=1 ex sh -c 'echo $(id -u) $(pwd) $A'
    [ "$output" = "65534 /tmp 1" ]
    run shoal exec ex nope
    [ "$status" -eq 126 ]
    run pty_run "$SHOAL_BUILD/shoal exec -it ex sh -c 'stty size; tty'"
    [[ $output == *"40 100"* ]]
    [[ $output == *"/dev/pts/"* ]]
    run shoal top ex
    [ "$status" -eq 0 ]
    [[ $output == *"sleep 1000"* ]]
}
