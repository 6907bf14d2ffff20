#!/usr/bin/env bats
# tests/cluster/50-security.bats - the cluster port against hostile peers
# (issue 4, "Security" and "Bad input" at the hello level): without a valid
# certificate only the join exchange is reachable; a worker certificate gets
# no raft; malformed hellos are dropped without harm; a removed node's
# certificate is refused; the CA key stays on managers.
#
# h1, h2 managers, h3 worker; h4 is the prober's namespace (its own shoald
# stays outside the swarm).

load lib

setup_file() {
    cluster_setup_file 4 || return 1
    [[ -n ${CL_SKIP:-} ]] && return 0
    swarm_form 2 1
}
teardown_file() { cluster_down; }

# probe TARGET-HOST MODE [CERT-HOST] - peerprobe.py from h4's namespace
probe() {
    local -a cert=()
    if [[ -n ${3:-} ]]; then
        cert=("$T/h$3/d/swarm/node-cert.pem" "$T/h$3/d/swarm/node-key.pem")
    fi
    nsenter --net="/run/netns/$(host_ns 4)" timeout 20 \
        python3 "$CL_LIB_DIR/peerprobe.py" "$(host_addr "$1")" 2377 "$2" "${cert[@]}" | paste -sd' '
}

@test "security: without a certificate only JOIN is accepted" {
    local n
    for n in 1 2; do
        [ "$(probe $n raft)" = refused ]
        [ "$(probe $n rpc)" = refused ]
        [ "$(probe $n session)" = refused ]
        # the join exchange is reachable, and junk there ends the connection
        [ "$(probe $n join)" = "accepted then-closed" ]
    done
}

@test "security: a worker certificate gets no raft connection" {
    [ -f "$T/h3/d/swarm/node-cert.pem" ]
    [ "$(probe 1 raft 3)" = refused ]
    [ "$(probe 2 raft 3)" = refused ]
    # its own kinds are accepted, junk on them closes the channel
    [ "$(probe 1 session 3)" = "accepted then-closed" ]
}

@test "security: malformed hellos are dropped and the managers keep working" {
    local m
    for m in kind9 empty huge garbage; do
        [ "$(probe 1 $m)" = closed ]
        [ "$(probe 1 $m 2)" = closed ]
    done
    pid_alive "$(host_pid 1)"
    pid_alive "$(host_pid 2)"
    on 1 docker node update --label-add after=junk "$(cat "$T/h3/id")"
    wait_ready 3 1 20
}

@test "security: the CA key never leaves the managers" {
    # a worker holds exactly one private key, its own, and no raft state
    run grep -rl -- "PRIVATE KEY" "$T/h3/d"
    [ "$status" -eq 0 ]
    [ "$output" = "$T/h3/d/swarm/node-key.pem" ]
    [ ! -e "$T/h3/d/swarm/raft" ]
    # and its key is not the CA's: its certificate is not self-signed
    run openssl verify -CAfile "$T/h3/d/swarm/ca.pem" "$T/h3/d/swarm/node-cert.pem"
    [ "$status" -eq 0 ]
    [ "$(openssl x509 -noout -subject -in "$T/h3/d/swarm/node-cert.pem" | grep -c 'OU *= *swarm-worker')" -eq 1 ]
    [ "$(openssl x509 -noout -subject -in "$T/h1/d/swarm/node-cert.pem" | grep -c 'OU *= *swarm-manager')" -eq 1 ]
}

@test "security: a removed node's certificate is refused" {
    [ "$(probe 1 session 3)" = "accepted then-closed" ]
    cp "$T/h3/d/swarm/node-cert.pem" "$T/h3/d/swarm/node-key.pem" "$T/"
    host_stop 3
    retry 100 0.3 bash -c "[[ \$(DOCKER_HOST=unix://$T/h1/s.sock $DOCKER_BIN node inspect --format '{{.Status.State}}' $(cat "$T/h3/id")) == down ]]"
    on 1 docker node rm "$(cat "$T/h3/id")"
    # the removal reaches h2 too
    retry 20 0.25 bash -c "! DOCKER_HOST=unix://$T/h2/s.sock $DOCKER_BIN node inspect $(cat "$T/h3/id") >/dev/null 2>&1"
    mkdir -p "$T/h9/d/swarm"
    cp "$T/node-cert.pem" "$T/node-key.pem" "$T/h9/d/swarm/"
    [ "$(probe 1 session 9)" = refused ]
    [ "$(probe 2 session 9)" = refused ]
    [ "$(probe 1 rpc 9)" = refused ]
}
