#!/usr/bin/env bats
# The remote API over TCP with TLS client verification (issue 6).

load helpers

TLS_PORT=${TLS_PORT:-23761}

mkcerts() {
    local d=$1
    mkdir -p "$d/other" "$d/wrong" "$d/nocert"
    (
        cd "$d" || exit 1
        o() { openssl "$@" 2>/dev/null; }
        o req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca-key.pem \
            -out ca.pem -days 2 -subj /CN=test-ca
        o req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server-key.pem \
            -out server.csr -subj /CN=127.0.0.1
        printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
        o x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server.pem \
            -days 2 -extfile server.ext
        printf 'extendedKeyUsage=clientAuth\n' >client.ext
        o req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out client.csr \
            -subj /CN=client
        o x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem \
            -days 2 -extfile client.ext
        o req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other/ca-key.pem \
            -out other/ca.pem -days 2 -subj /CN=other-ca
        o req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout wrong/key.pem \
            -out other/client.csr -subj /CN=intruder
        o x509 -req -in other/client.csr -CA other/ca.pem -CAkey other/ca-key.pem -CAcreateserial \
            -out wrong/cert.pem -days 2 -extfile client.ext
        cp ca.pem wrong/ca.pem
        cp ca.pem nocert/ca.pem
    )
}

setup_file() {
    suite_setup_file
    [[ -n ${SUITE_SKIP:-} ]] && return 0
    requires_tls_daemon_file
}

requires_tls_daemon_file() {
    [[ $SHOAL_TEST_DAEMON == shoald ]] || return 0
    mkcerts "$T/tls"
    # a second daemon process serving TLS on the same data root is not
    # allowed: restart ours with the TCP listener added
    daemon_stop
    TLS_DAEMON_ARGS="-H tcp://127.0.0.1:$TLS_PORT --tlsverify --tlscacert $T/tls/ca.pem --tlscert $T/tls/server.pem --tlskey $T/tls/server-key.pem"
    "$SHOAL_BUILD/shoald" --data-root "$T/d" --exec-root "$T/r" -H "unix://$SOCK" \
        $TLS_DAEMON_ARGS --log-level debug </dev/null >>"$DAEMON_LOG" 2>&1 3>&- &
    DAEMON_PID=$!
    disown "$DAEMON_PID"
    echo "$DAEMON_PID" >"$T/daemon.pid"
    echo "$DAEMON_PID" >>"$T/daemon.pids"
    export DAEMON_PID
    retry 100 0.1 curl -fsS --unix-socket "$SOCK" --max-time 2 http://d/_ping >/dev/null
}

teardown_file() { suite_teardown_file; }
teardown() { suite_teardown; }

tlsdocker() {
    DOCKER_HOST=tcp://127.0.0.1:$TLS_PORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=${CERTS:-$T/tls} docker "$@"
}

tlsshoal() {
    SHOAL_HOST=tcp://127.0.0.1:$TLS_PORT SHOAL_TLS_VERIFY=1 SHOAL_CERT_PATH=${CERTS:-$T/tls} shoal "$@"
}

@test "docker over TLS with a client certificate: version, run, attach, exec -i, logs -f" {
    requires_shoald "TLS listener of shoald"
    run tlsdocker version --format '{{.Server.APIVersion}}'
    [ "$status" -eq 0 ]
    [ "$output" = 1.41 ]
    run tlsdocker run --rm --network none bb:latest echo hello-tls
    [ "$output" = hello-tls ]
    run bash -c "echo piped | DOCKER_HOST=tcp://127.0.0.1:$TLS_PORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$T/tls docker run -i --rm --network none bb:latest cat"
    [ "$output" = piped ]
    tlsdocker run -d --name tl1 --network none bb:latest sh -c 'for i in 1 2 3; do echo l$i; sleep 0.2; done; sleep 1000'
    run bash -c "echo exec-in | DOCKER_HOST=tcp://127.0.0.1:$TLS_PORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$T/tls docker exec -i tl1 cat"
    [ "$output" = exec-in ]
    run timeout 3 env DOCKER_HOST=tcp://127.0.0.1:$TLS_PORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$T/tls "$DOCKER_BIN" logs -f tl1
    [[ $output == *l1*l2*l3* ]]
    tlsdocker rm -f tl1
}

@test "shoal over TLS (flags and SHOAL_TLS_VERIFY/SHOAL_CERT_PATH)" {
    requires_shoald "TLS listener of shoald"
    run tlsshoal run --rm --network none bb:latest echo shoal-tls
    [ "$status" -eq 0 ]
    [ "$output" = shoal-tls ]
    run shoal -H tcp://127.0.0.1:$TLS_PORT --tlsverify --tlscacert "$T/tls/ca.pem" \
        --tlscert "$T/tls/cert.pem" --tlskey "$T/tls/key.pem" ps --format '{{.Names}}'
    [ "$status" -eq 0 ]
    run bash -c "echo in | SHOAL_HOST=tcp://127.0.0.1:$TLS_PORT SHOAL_TLS_VERIFY=1 SHOAL_CERT_PATH=$T/tls $SHOAL_BUILD/shoal run -i --rm --network none bb:latest cat"
    [ "$output" = in ]
}

@test "no client certificate, a certificate of another CA, plain HTTP: refused" {
    requires_shoald "TLS listener of shoald"
    run curl -sS --max-time 5 --cacert "$T/tls/ca.pem" "https://127.0.0.1:$TLS_PORT/_ping"
    [ "$status" -ne 0 ]
    # the handshake itself fails (TLS alert), not a later hang-up
    [[ $output == *"alert"* || $output == *"certificate required"* ]]
    run docker -H "tcp://127.0.0.1:$TLS_PORT" --tls --tlscacert "$T/tls/ca.pem" version
    [ "$status" -ne 0 ]
    run curl -sS --max-time 5 --cacert "$T/tls/ca.pem" --cert "$T/tls/cert.pem" \
        --key "$T/tls/key.pem" "https://127.0.0.1:$TLS_PORT/_ping"
    [ "$status" -eq 0 ]
    [ "$output" = OK ]
    CERTS=$T/tls/wrong run tlsdocker version
    [ "$status" -ne 0 ]
    [[ $output == *"certificate"* ]]
    CERTS=$T/tls/wrong run tlsshoal ps
    [ "$status" -ne 0 ]
    run env DOCKER_HOST=tcp://127.0.0.1:$TLS_PORT "$DOCKER_BIN" --tls --tlscacert "$T/tls/nocert/ca.pem" ps
    [ "$status" -ne 0 ]
    run curl -sS --max-time 5 "http://127.0.0.1:$TLS_PORT/_ping"
    [ "$status" -ne 0 ]
    # the daemon survived all of that
    run tlsdocker version --format '{{.Server.APIVersion}}'
    [ "$output" = 1.41 ]
}

@test "shoald refuses TCP without TLS unless --insecure-tcp, and warns then" {
    requires_shoald "shoald flags"
    run timeout 10 "$SHOAL_BUILD/shoald" --data-root "$T/d2" --exec-root "$T/r2" \
        -H "unix://$T/s2.sock" -H tcp://127.0.0.1:$((TLS_PORT + 1))
    [ "$status" -ne 0 ]
    [[ $output == *"refusing to serve the API on TCP without TLS"* ]]
    run timeout 10 "$SHOAL_BUILD/shoald" --data-root "$T/d2" --exec-root "$T/r2" \
        -H "unix://$T/s2.sock" -H tcp://127.0.0.1:$((TLS_PORT + 1)) --tlsverify
    [ "$status" -ne 0 ]
    [[ $output == *"needs --tlscacert"* ]]
}
