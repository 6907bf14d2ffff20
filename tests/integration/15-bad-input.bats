#!/usr/bin/env bats
# 15-bad-input: the daemon answers bad requests with clear errors (right HTTP
# status, JSON body), survives abusive clients, and loses no state.

load helpers

setup_file() { suite_setup_file; }
teardown_file() { suite_teardown_file; }
teardown() { suite_teardown; }

# post PATH BODY - POST JSON; writes the body to $T/out, prints the status code
post() {
    curl_api -sS -o "$T/out" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary "$2" "http://d/v1.41$1"
}

# still_up - the daemon still answers
still_up() {
    pid_alive "$(cat "$T/daemon.pid")"
    run curl_api -sS http://d/_ping
    [ "$output" = OK ]
    run docker version --format '{{.Server.APIVersion}}'
    [ "$output" = 1.41 ]
}

# error_message - the "message" of the JSON error in $T/out
error_message() {
    json_get message "$T/out"
}

@test "create some containers that must survive everything below" {
    docker run -d --name keep1 bb:latest sleep 1000
    docker create --name keep2 bb:latest true
    docker run --name keep3 bb:latest sh -c 'exit 4' || true
}

@test "malformed JSON to /containers/create is a 400 with a JSON message" {
    run post /containers/create '{"Image":'
    # dockerd 20.10 answers 500 for JSON syntax errors; shoald must say 400
    if is_dockerd; then
        [ "$output" = 400 ] || [ "$output" = 500 ]
    else
        [ "$output" = 400 ]
    fi
    run error_message
    [ "$status" -eq 0 ]
    [ -n "$output" ]
}

@test "a wrongly typed field is refused" {
    run post /containers/create '{"Image":5}'
    if is_dockerd; then
        [ "$output" = 400 ] || [ "$output" = 500 ]
    else
        [ "$output" = 400 ]
    fi
    run error_message
    [ -n "$output" ]
}

@test "an empty body to /containers/create is refused" {
    run post /containers/create ''
    if is_dockerd; then
        [ "$output" = 400 ] || [ "$output" = 500 ]
    else
        [ "$output" = 400 ]
    fi
    run error_message
    [ -n "$output" ]
}

@test "an unknown image is a 404 'No such image'" {
    run post /containers/create '{"Image":"nope:latest"}'
    [ "$output" = 404 ]
    run error_message
    [ "$output" = "No such image: nope:latest" ]
}

@test "docker run of an unknown image fails with exit 125" {
    # the CLI then tries to pull; there is no registry here, so the pull fails
    run timeout 60 docker run --rm nope
    [ "$status" -eq 125 ]
    [[ $output == *"Unable to find image 'nope:latest' locally"* ]]
}

@test "unknown containers are 404 'No such container' over the API" {
    local m
    for m in "GET /containers/x/json" "POST /containers/x/stop" "DELETE /containers/x" \
        "GET /containers/x/logs?stdout=1" "POST /containers/x/kill" "POST /containers/x/start" \
        "POST /containers/x/wait"; do
        run curl_api -sS -o "$T/out" -w '%{http_code}' -X "${m% *}" "http://d/v1.41${m#* }"
        [ "$output" = 404 ] || {
            echo "$m: $output"
            false
        }
        run error_message
        # (dockerd's kill says "Cannot kill container: x: No such container: x")
        [[ $output == *"No such container: x" ]]
    done
}

@test "unknown containers make the CLI exit 1" {
    local cmd
    for cmd in "container inspect" stop rm logs; do
        # shellcheck disable=SC2086
        run docker $cmd x
        [ "$status" -eq 1 ]
        [[ $output == *"No such container: x"* ]]
    done
}

@test "bad memory values are refused" {
    # the CLI itself rejects a malformed size
    run docker run --rm -m 12q bb:latest true
    [ "$status" -eq 125 ]
    [[ $output == *"12q"* ]]
    run post /containers/create '{"Image":"bb:latest","Cmd":["true"],"HostConfig":{"Memory":-5}}'
    [ "$output" = 400 ]
    run error_message
    [ -n "$output" ]
}

@test "an invalid container name is refused" {
    run post '/containers/create?name=bad%20name!' '{"Image":"bb:latest","Cmd":["true"]}'
    [ "$output" = 400 ]
    run error_message
    [[ $output == *"Invalid container name"* ]]
    run docker create --name 'bad name!' bb:latest true
    [ "$status" -ne 0 ]
    [[ $output == *"Invalid container name"* ]]
}

@test "a duplicate name is a 409 Conflict" {
    run post '/containers/create?name=keep1' '{"Image":"bb:latest","Cmd":["true"]}'
    [ "$output" = 409 ]
    run error_message
    [[ $output == *Conflict* ]]
    [[ $output == *'"/keep1" is already in use'* ]]
}

@test "removing a running container without force is a 409" {
    run curl_api -sS -o "$T/out" -w '%{http_code}' -X DELETE http://d/v1.41/containers/keep1
    [ "$output" = 409 ]
    run error_message
    [[ $output == *"You cannot remove a running container"* ]]
}

@test "a huge header is refused and the daemon keeps answering" {
    local size=102400 code
    # Go's net/http (dockerd) allows 1 MiB of headers: it needs a bigger one
    is_dockerd && size=$((2 * 1024 * 1024))
    # (curl itself refuses headers this big: send the request by hand)
    run python3 - "$SOCK" "$size" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.settimeout(20)
req = (b"GET /v1.41/version HTTP/1.1\r\nHost: d\r\nX-Big: " + b"a" * int(sys.argv[2]) +
       b"\r\n\r\n")
try:
    s.sendall(req)
except (BrokenPipeError, ConnectionResetError):
    pass  # the server may answer and close before reading it all
data = b""
try:
    while b"\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
except (ConnectionResetError, socket.timeout):
    pass
line = data.split(b"\r\n")[0].decode(errors="replace")
print(line.split(" ")[1] if line.startswith("HTTP/") else "no-answer:" + line)
PY
    code=$output
    echo "status $code"
    [ "$code" = 431 ] || [ "$code" = 400 ]
    still_up
}

@test "a 20 MiB JSON body is refused with 413 and the daemon keeps answering" {
    python3 -c "
import json
print(json.dumps({'Image': 'nope:latest', 'Labels': {'x': 'a' * (20 << 20)}}))" >"$T/big.json"
    run curl_api -sS -o "$T/out" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary @"$T/big.json" http://d/v1.41/containers/create
    echo "status $output"
    # dockerd has no body limit: it reads it all and then finds no image
    if is_dockerd; then
        [ "$output" = 404 ]
    else
        [ "$output" = 413 ]
    fi
    still_up
}

@test "clients that disconnect mid-request do not hurt the daemon" {
    python3 - "$SOCK" <<'PY'
import socket, sys, time
path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s
# 1. half a request line
s = conn(); s.sendall(b"GET /v1.41/ver"); s.close()
# 2. headers complete, body promised but cut short
s = conn()
s.sendall(b"POST /v1.41/containers/create HTTP/1.1\r\nHost: d\r\n"
          b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"Image\":")
time.sleep(0.2); s.close()
# 3. chunked body that stops in the middle of a chunk
s = conn()
s.sendall(b"POST /v1.41/containers/create HTTP/1.1\r\nHost: d\r\n"
          b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n{\"Ima")
s.close()
# 4. a request whose answer is never read (reset while the daemon writes)
s = conn()
s.sendall(b"GET /v1.41/containers/json?all=1 HTTP/1.1\r\nHost: d\r\n\r\n")
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
s.close()
# 5. a long-poll wait abandoned by its client
s = conn()
s.sendall(b"POST /v1.41/containers/keep1/wait HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n")
time.sleep(0.3); s.close()
# 6. garbage
s = conn(); s.sendall(b"\x00\xff\r\n\r\nNOT HTTP AT ALL\r\n\r\n"); time.sleep(0.1); s.close()
# 7. many idle connections opened and dropped
socks = [conn() for _ in range(50)]
for s in socks: s.close()
PY
    still_up
}

@test "a curl upload killed midway does not hurt the daemon" {
    (
        printf '{"Image":"bb:latest","Labels":{"x":"'
        sleep 5
    ) | curl_api -sS -X POST -H 'Content-Type: application/json' -H 'Content-Length: 1000' \
        --data-binary @- http://d/v1.41/containers/create >/dev/null 2>&1 &
    local cpid=$!
    sleep 0.5
    kill "$cpid" 2>/dev/null || true
    wait "$cpid" 2>/dev/null || true
    still_up
}

@test "nothing was lost: the earlier containers are all there" {
    run docker ps -a --format '{{.Names}} {{.Status}}'
    [ "$status" -eq 0 ]
    [[ $output == *"keep1 Up"* ]]
    [[ $output == *"keep2 Created"* ]]
    [[ $output == *"keep3 Exited (4)"* ]]
    # and nothing half-created was left behind
    [ "$(docker ps -aq | wc -l)" -eq 3 ]
    run docker logs keep1
    [ "$status" -eq 0 ]
    run docker run --rm bb:latest echo still-works
    [ "$output" = still-works ]
}
