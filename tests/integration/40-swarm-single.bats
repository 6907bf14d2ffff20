#!/usr/bin/env bats
# 40-swarm-single: a one-node swarm driven by the stock docker CLI: init, the
# Swarm part of info, node ls/inspect/update, join tokens (show, -q, rotate),
# stale versions, errors Docker answers with 503, state kept across kill -9,
# leave --force. The cluster port listens on loopback only.

load helpers

setup_file() {
    suite_setup_file
    # a free loopback port for the cluster port
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    echo "$PORT" >"$T/swarm.port"
}
teardown_file() {
    docker swarm leave --force >/dev/null 2>&1 || true
    suite_teardown_file
}
teardown() { suite_teardown; }

port() { cat "$T/swarm.port"; }
self_id() { docker info --format '{{.Swarm.NodeID}}'; }

@test "inactive: info says so and node commands answer 503" {
    run docker info --format '{{.Swarm.LocalNodeState}}'
    [ "$status" -eq 0 ]
    [ "$output" = inactive ]
    run docker node ls
    [ "$status" -ne 0 ]
    [[ $output == *"This node is not a swarm manager."* ]]
    run docker swarm leave
    [ "$status" -ne 0 ]
}

@test "swarm init prints docker's text with the worker join command" {
    run docker swarm init --advertise-addr 127.0.0.1 --listen-addr "127.0.0.1:$(port)"
    [ "$status" -eq 0 ]
    [[ ${lines[0]} =~ ^Swarm\ initialized:\ current\ node\ \([0-9a-z]{25}\)\ is\ now\ a\ manager\.$ ]]
    [[ $output == *"docker swarm join --token SWMTKN-1-"*" 127.0.0.1:$(port)"* ]]
    [[ $output == *"To add a manager to this swarm, run 'docker swarm join-token manager'"* ]]
}

@test "info shows an active manager with the cluster block" {
    run docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.Nodes}} {{.Swarm.Managers}}'
    [ "$output" = "active true 1 1" ]
    run docker info --format '{{.Swarm.Cluster.Spec.Name}} {{len .Swarm.Cluster.ID}} {{(index .Swarm.RemoteManagers 0).Addr}}'
    [ "$output" = "default 25 127.0.0.1:$(port)" ]
    run docker info
    [[ $output == *"Is Manager: true"* ]]
}

@test "node ls shows self as Leader, Ready, Active" {
    run docker node ls
    [ "$status" -eq 0 ]
    [[ ${lines[1]} == *" * "*Ready*Active*Leader* ]]
    [ "$(docker node ls -q)" = "$(self_id)" ]
}

@test "node inspect self and --pretty" {
    run docker node inspect self --format '{{.Spec.Role}} {{.Status.State}} {{.ManagerStatus.Leader}} {{.ManagerStatus.Reachability}} {{.ManagerStatus.Addr}}'
    [ "$status" -eq 0 ]
    [ "$output" = "manager ready true reachable 127.0.0.1:$(port)" ]
    run docker node inspect --pretty self
    [[ $output == *"Leader:"*"Yes"* ]]
}

@test "node update: availability and labels" {
    local id
    id=$(self_id)
    docker node update --availability drain --label-add zone=a --label-add disk=ssd "$id"
    run docker node inspect "$id" --format '{{.Spec.Availability}} {{index .Spec.Labels "zone"}} {{index .Spec.Labels "disk"}}'
    [ "$output" = "drain a ssd" ]
    docker node update --availability active --label-rm disk "$id"
    run docker node inspect "$id" --format '{{.Spec.Availability}} {{len .Spec.Labels}}'
    [ "$output" = "active 1" ]
    run docker node ls -f node.label=zone=a -q
    [ "$output" = "$id" ]
}

@test "a stale version is refused with 'update out of sequence'" {
    local id v
    id=$(self_id)
    v=$(docker node inspect "$id" --format '{{.Version.Index}}')
    run curl_api -sS -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -d '{"Role":"manager","Availability":"active"}' "http://d/v1.41/nodes/$id/update?version=$v"
    [ "$output" = 200 ]
    run curl_api -sS -X POST -H 'Content-Type: application/json' \
        -d '{"Role":"manager","Availability":"pause"}' "http://d/v1.41/nodes/$id/update?version=$v"
    [[ $output == *"update out of sequence"* ]]
    run docker node inspect "$id" --format '{{.Spec.Availability}}'
    [ "$output" = active ]
}

@test "demoting the last manager and removing self are refused" {
    run docker node demote "$(self_id)"
    [ "$status" -ne 0 ]
    [[ $output == *"attempting to demote the last manager of the swarm"* ]]
    run docker node update --availability drain self
    [[ $output == *"node self not found"* ]]
}

@test "join-token worker|manager, -q and --rotate" {
    local w m w2
    run docker swarm join-token worker
    [ "$status" -eq 0 ]
    [[ $output == *"docker swarm join --token SWMTKN-1-"*" 127.0.0.1:$(port)"* ]]
    w=$(docker swarm join-token -q worker)
    m=$(docker swarm join-token -q manager)
    [[ $w =~ ^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$ ]]
    [ "$w" != "$m" ]
    # both share the CA digest
    [ "${w%-*}" = "${m%-*}" ]
    run docker swarm join-token --rotate worker
    [ "$status" -eq 0 ]
    w2=$(docker swarm join-token -q worker)
    [ "$w2" != "$w" ]
    [ "$(docker swarm join-token -q manager)" = "$m" ]
}

@test "init and join on a node already in a swarm: 503 with docker's text" {
    run docker swarm init --advertise-addr 127.0.0.1
    [ "$status" -ne 0 ]
    [[ $output == *'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.'* ]]
    run curl_api -sS -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -d '{"RemoteAddrs":["127.0.0.1:1"],"JoinToken":"SWMTKN-1-x"}' http://d/v1.41/swarm/join
    [ "$output" = 503 ]
}

@test "leave without --force is refused on a manager" {
    run docker swarm leave
    [ "$status" -ne 0 ]
    [[ $output == *"You are attempting to leave the swarm on a node that is participating as a manager."* ]]
}

@test "GET /swarm/unlockkey: autolock is not enabled" {
    run curl_api -sS -o /dev/null -w '%{http_code}' http://d/v1.41/swarm/unlockkey
    [ "$output" = 400 ]
}

@test "kill -9 and restart: same node, same store" {
    local id label
    id=$(self_id)
    label=$(docker node inspect "$id" --format '{{index .Spec.Labels "zone"}}')
    daemon_kill9
    daemon_start
    retry 50 0.2 bash -c '[[ $(docker node ls -q 2>/dev/null) == '"$id"' ]]'
    [ "$(self_id)" = "$id" ]
    run docker node inspect "$id" --format '{{index .Spec.Labels "zone"}} {{.ManagerStatus.Leader}}'
    [ "$output" = "$label true" ]
    retry 50 0.2 bash -c 'docker node ls | grep -q Ready'
    # writes work after the restart
    docker node update --label-add after=restart "$id"
}

@test "leave --force: back to inactive, state removed" {
    run docker swarm leave --force
    [ "$status" -eq 0 ]
    [ "$output" = "Node left the swarm." ]
    run docker info --format '{{.Swarm.LocalNodeState}}'
    [ "$output" = inactive ]
    [ ! -e "$T/d/swarm" ]
    run docker node ls
    [ "$status" -ne 0 ]
}

@test "init again after leaving: a new swarm" {
    run docker swarm init --advertise-addr 127.0.0.1 --listen-addr "127.0.0.1:$(port)"
    [ "$status" -eq 0 ]
    [ "$(docker node ls -q | wc -l)" -eq 1 ]
    docker swarm leave --force
}
