#!/usr/bin/env bats
# 41-shoal-swarm: the `shoal swarm ...` and `shoal node ...` commands on a
# one-node swarm: init text, node ls (same table as `docker node ls`), node
# inspect (JSON, --pretty, self), node update labels/availability, join-token
# (-q, --rotate), swarm update, promote/demote and rm errors, leave. The
# cluster port listens on loopback only.

load helpers

setup_file() {
    SUITE_NO_IMPORT=1 suite_setup_file
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    echo "$PORT" >"$T/swarm.port"
}
teardown_file() {
    "$SHOAL_BUILD/shoal" swarm leave --force >/dev/null 2>&1 || true
    suite_teardown_file
}
setup() {
    suite_setup
    requires_shoal_cli
}
teardown() { suite_teardown; }

port() { cat "$T/swarm.port"; }
self_id() { docker info --format '{{.Swarm.NodeID}}'; }

@test "shoal swarm/node before init: docker's errors, exit 1" {
    run shoal node ls
    [ "$status" -eq 1 ]
    [[ $output == "shoal: Error response from daemon: This node is not a swarm manager."* ]]
    run shoal swarm leave
    [ "$status" -eq 1 ]
    [[ $output == "shoal: Error response from daemon: "* ]]
    run shoal swarm join-token boss
    [ "$status" -eq 1 ]
    [[ $output == *"unknown role boss"* ]]
    run shoal swarm init --listen-addr 1.2.3.4:notaport
    [ "$status" -eq 125 ]
}

@test "shoal swarm init prints the node id and the worker join command" {
    run shoal swarm init --advertise-addr 127.0.0.1 --listen-addr "127.0.0.1:$(port)"
    [ "$status" -eq 0 ]
    [[ ${lines[0]} =~ ^Swarm\ initialized:\ current\ node\ \(([0-9a-z]{25})\)\ is\ now\ a\ manager\.$ ]]
    [ "${BASH_REMATCH[1]}" = "$(self_id)" ]
    [ "${lines[1]}" = "To add a worker to this swarm, run the following command:" ]
    [[ ${lines[2]} =~ ^\ \ \ \ shoal\ swarm\ join\ --token\ SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}\ 127\.0\.0\.1:$(port)$ ]]
    [ "${lines[3]}" = "To add a manager to this swarm, run 'shoal swarm join-token manager' and follow the instructions." ]
    # the printed token is the worker token
    [[ ${lines[2]} == *" $(docker swarm join-token -q worker) "* ]]
    run shoal swarm init --advertise-addr 127.0.0.1
    [ "$status" -eq 1 ]
    [[ $output == 'shoal: Error response from daemon: This node is already part of a swarm.'* ]]
}

@test "shoal node ls matches docker node ls" {
    local d s
    d=$(docker node ls)
    s=$(shoal node ls)
    [ "$s" = "$d" ]
    [[ $(sed -n 1p <<<"$s") =~ ^ID\ +HOSTNAME\ +STATUS\ +AVAILABILITY\ +MANAGER\ STATUS\ +ENGINE\ VERSION$ ]]
    [[ $(sed -n 2p <<<"$s") == "$(self_id) * "*Ready*Active*Leader* ]]
    [ "$(shoal node ls -q)" = "$(self_id)" ]
    [ "$(shoal node ls -q -f role=manager)" = "$(self_id)" ]
    [ -z "$(shoal node ls -q -f role=worker)" ]
}

@test "shoal node inspect: JSON, self, --format and --pretty" {
    local id
    id=$(self_id)
    run shoal node inspect self
    [ "$status" -eq 0 ]
    [ "$(json_get 0.ID <<<"$output")" = "$id" ]
    [ "$(json_get 0.ManagerStatus.Addr <<<"$output")" = "127.0.0.1:$(port)" ]
    run shoal node inspect --format '{{.Spec.Role}} {{.Status.State}}' "$id"
    [ "$output" = "manager ready" ]
    run shoal node inspect --pretty self
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "ID:			$id" ]
    [[ $output == *"Manager Status:"*" Leader:		Yes"* ]]
    [[ $output == *" State:			Ready"* ]]
    [ "$output" = "$(docker node inspect --pretty self)" ]
    run shoal node inspect nosuchnode
    [ "$status" -eq 1 ]
    [[ $output == *"shoal: Error response from daemon: "* ]]
}

@test "shoal node update: availability and labels" {
    local id
    id=$(self_id)
    run shoal node update --availability drain --label-add zone=a --label-add disk=ssd "$id"
    [ "$status" -eq 0 ]
    [ "$output" = "$id" ]
    run docker node inspect "$id" --format '{{.Spec.Availability}} {{index .Spec.Labels "zone"}} {{index .Spec.Labels "disk"}}'
    [ "$output" = "drain a ssd" ]
    [[ $(shoal node ls | sed -n 2p) == *" Drain "* ]]
    shoal node update --availability active --label-rm disk "$id"
    run docker node inspect "$id" --format '{{.Spec.Availability}} {{len .Spec.Labels}}'
    [ "$output" = "active 1" ]
    [ "$(shoal node ls -q -f node.label=zone=a)" = "$id" ]
    run shoal node update --label-rm nope "$id"
    [ "$status" -eq 1 ]
    [ "$output" = "shoal: key nope doesn't exist in node's labels" ]
    run shoal node update --availability sleepy "$id"
    [ "$status" -eq 1 ]
    # like docker, 'self' is not resolved by update
    run shoal node update --availability drain self
    [ "$status" -eq 1 ]
    [[ $output == *"node self not found"* ]]
}

@test "shoal node promote/demote/rm on the last manager" {
    local id
    id=$(self_id)
    run shoal node promote "$id"
    [ "$status" -eq 0 ]
    [ "$output" = "Node $id is already a manager." ]
    run shoal node demote "$id"
    [ "$status" -eq 1 ]
    [[ $output == "shoal: Error response from daemon: "*"attempting to demote the last manager of the swarm"* ]]
    [ "$(docker node inspect "$id" --format '{{.Spec.Role}}')" = manager ]
    run shoal node rm "$id"
    [ "$status" -eq 1 ]
    [[ $output == "shoal: Error response from daemon: "* ]]
    run shoal node ps
    [ "$status" -eq 0 ]
    [[ ${lines[0]} =~ ^ID\ +NAME\ +IMAGE\ +NODE\ +DESIRED\ STATE\ +CURRENT\ STATE\ +ERROR\ +PORTS$ ]]
    # (docker node ps needs GET /tasks, which comes with services)
}

@test "shoal swarm join-token: text, -q, --rotate" {
    local w m w2
    run shoal swarm join-token worker
    [ "$status" -eq 0 ]
    w=$(docker swarm join-token -q worker)
    m=$(docker swarm join-token -q manager)
    [ "${lines[0]}" = "To add a worker to this swarm, run the following command:" ]
    [ "${lines[1]}" = "    shoal swarm join --token $w 127.0.0.1:$(port)" ]
    # docker's text with the command name swapped
    [ "$output" = "$(docker swarm join-token worker | sed 's/docker swarm/shoal swarm/')" ]
    run shoal swarm join-token manager
    [ "${lines[1]}" = "    shoal swarm join --token $m 127.0.0.1:$(port)" ]
    [ "$(shoal swarm join-token -q worker)" = "$w" ]
    [ "$(shoal swarm join-token -q manager)" = "$m" ]
    run shoal swarm join-token --rotate worker
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "Successfully rotated worker join token." ]
    w2=$(docker swarm join-token -q worker)
    [ "$w2" != "$w" ]
    [ "${lines[2]}" = "    shoal swarm join --token $w2 127.0.0.1:$(port)" ]
    [ "$(docker swarm join-token -q manager)" = "$m" ]
    run shoal swarm join-token -q --rotate manager
    [ "$status" -eq 0 ]
    [ "$output" = "$(docker swarm join-token -q manager)" ]
    [ "$output" != "$m" ]
}

@test "shoal swarm update and swarm inspect" {
    run shoal swarm update --task-history-limit 7 --dispatcher-heartbeat 6s --cert-expiry 720h
    [ "$status" -eq 0 ]
    [ "$output" = "Swarm updated." ]
    run shoal swarm inspect
    [ "$status" -eq 0 ]
    [ "$(json_get Spec.Orchestration.TaskHistoryRetentionLimit <<<"$output")" = 7 ]
    [ "$(json_get Spec.Dispatcher.HeartbeatPeriod <<<"$output")" = 6000000000 ]
    [ "$(json_get Spec.CAConfig.NodeCertExpiry <<<"$output")" = 2592000000000000 ]
    run shoal swarm update --cert-expiry 3x
    [ "$status" -eq 125 ]
}

@test "shoal swarm leave: refused without --force, then leaves" {
    run shoal swarm leave
    [ "$status" -eq 1 ]
    [[ $output == "shoal: Error response from daemon: You are attempting to leave the swarm on a node that is participating as a manager."* ]]
    run shoal swarm leave --force
    [ "$status" -eq 0 ]
    [ "$output" = "Node left the swarm." ]
    [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" = inactive ]
    run shoal node ls
    [ "$status" -eq 1 ]
}
