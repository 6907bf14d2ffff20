#!/usr/bin/env bats
# tests/cluster/30-admin.bats - node administration: promote/demote,
# availability, labels, rm, join tokens (wrong, rotated), removed nodes, leave.
#
# h1-h3 managers, h4-h5 workers; h6 is a spare host that joins later.
# (rm of a manager that was not demoted: 31-admin-managers.bats.)

load lib

setup_file() {
    cluster_setup_file 6 || return 1
    [[ -n ${CL_SKIP:-} ]] && return 0
    swarm_form 3 2
}
teardown_file() { cluster_down; }

id_of() { cat "$T/h$1/id"; }

# field N NODE-HOST GO-TEMPLATE - docker node inspect --format on host N
field() {
    on "$1" docker node inspect --format "$3" "$(id_of "$2")"
}

field_is() {
    [[ $(field "$1" "$2" "$3" 2>/dev/null) == "$4" ]]
}

node_listed() {
    on "$1" docker node ls -q | grep -qx "$2"
}

node_unlisted() {
    local out
    out=$(on "$1" docker node ls -q) || return 1
    ! grep -qx "$2" <<<"$out"
}

# managers - the hosts among h1-h3 that h1 lists as managers
managers() {
    local n
    for n in 1 2 3; do
        [[ $(field 1 "$n" '{{.Spec.Role}}' 2>/dev/null) == manager ]] && echo "$n"
    done
    return 0
}

# stays_unlisted SECONDS NODE-ID - on every manager, and for SECONDS
stays_unlisted() {
    local i n
    local -a mgrs
    mapfile -t mgrs < <(managers)
    for n in "${mgrs[@]}"; do
        retry 20 0.25 node_unlisted "$n" "$2" || return 1
    done
    for ((i = 0; i < $1 * 2; i++)); do
        for n in "${mgrs[@]}"; do
            node_unlisted "$n" "$2" || { echo "h$n lists $2 again"; return 1; }
        done
        sleep 0.5
    done
}


hb_grace() {
    local ns
    ns=$(curl_host 1 -sf http://d/v1.41/swarm | json_get Spec.Dispatcher.HeartbeatPeriod 2>/dev/null) || ns=5000000000
    echo $(((ns + 999999999) / 1000000000 * 4 + 3))
}

@test "admin: promote a worker, then demote it again" {
    run on 1 docker node promote "$(id_of 4)"
    [ "$status" -eq 0 ]
    [ "$output" = "Node $(id_of 4) promoted to a manager in the swarm." ]
    retry 20 0.25 field_is 2 4 '{{.Spec.Role}}' manager
    retry 40 0.5 field_is 1 4 '{{.ManagerStatus.Reachability}}' reachable
    # h4 is a manager now: it serves node ls itself
    retry 40 0.5 on 4 docker node ls -q
    [ "$(on 4 docker info --format '{{.Swarm.ControlAvailable}}')" = true ]

    run on 2 docker node demote "$(id_of 4)"
    [ "$status" -eq 0 ]
    [ "$output" = "Manager $(id_of 4) demoted in the swarm." ]
    retry 20 0.25 field_is 1 4 '{{.Spec.Role}}' worker
    # back to a worker: the 503 again, and no ManagerStatus
    retry 40 0.5 bash -c "! DOCKER_HOST=unix://$T/h4/s.sock $DOCKER_BIN node ls >/dev/null 2>&1"
    run on 4 docker node ls
    [[ $output == *"This node is not a swarm manager."* ]]
    retry 20 0.5 field_is 1 4 '{{if .ManagerStatus}}yes{{else}}no{{end}}' no
    wait_ready 5 1 30
}

@test "admin: availability drain, pause, active" {
    local a
    for a in drain pause active; do
        run on 1 docker node update --availability $a "$(id_of 5)"
        [ "$status" -eq 0 ]
        [ "$output" = "$(id_of 5)" ]
        retry 20 0.25 field_is 1 5 '{{.Spec.Availability}}' $a
        retry 20 0.2 field_is 3 5 '{{.Spec.Availability}}' $a
    done
    on 2 docker node update --availability drain "$(id_of 5)"
    retry 20 0.25 bash -c "[[ \"\$(DOCKER_HOST=unix://$T/h1/s.sock $DOCKER_BIN node ls --format '{{.ID}} {{.Availability}}' | grep '^$(id_of 5) ')\" == '$(id_of 5) Drain' ]]"
    on 2 docker node update --availability active "$(id_of 5)"
    run on 1 docker node update --availability sideways "$(id_of 5)"
    [ "$status" -ne 0 ]
}

@test "admin: labels add, replace, remove; stale versions are refused" {
    on 1 docker node update --label-add zone=a --label-add disk=ssd "$(id_of 4)"
    retry 20 0.25 field_is 2 4 '{{json .Spec.Labels}}' '{"disk":"ssd","zone":"a"}'
    on 3 docker node update --label-add zone=b --label-rm disk "$(id_of 4)"
    retry 20 0.2 field_is 1 4 '{{json .Spec.Labels}}' '{"zone":"b"}'
    # optimistic concurrency through the raw API
    local v
    v=$(field 1 4 '{{.Version.Index}}')
    run curl_host 1 -s -H 'Content-Type: application/json' \
        -d '{"Labels":{},"Role":"worker","Availability":"active"}' \
        "http://d/v1.41/nodes/$(id_of 4)/update?version=$((v - 1))"
    [[ $output == *"update out of sequence"* ]]
    [ "$(field 1 4 '{{json .Spec.Labels}}')" = '{"zone":"b"}' ]
    run curl_host 1 -s -w ' %{http_code}' -H 'Content-Type: application/json' \
        -d '{"Labels":{},"Role":"worker","Availability":"active"}' \
        "http://d/v1.41/nodes/$(id_of 4)/update?version=$v"
    [[ $output == *" 200" ]]
    [ "$(field 1 4 '{{json .Spec.Labels}}')" = '{}' ]
    [ "$(field 1 4 '{{.Version.Index}}')" -gt "$v" ]
    retry 20 0.25 field_is 2 4 '{{json .Spec.Labels}}' '{}'
    # the version (a raft index) is the same on every manager
    v=$(field 1 4 '{{.Version.Index}}')
    retry 20 0.25 field_is 2 4 '{{.Version.Index}}' "$v"
    retry 20 0.25 field_is 3 4 '{{.Version.Index}}' "$v"
    # a node cannot be found by a made-up id
    run on 1 docker node update --label-add x=y nosuchnode0000000000000000
    [ "$status" -ne 0 ]
}

@test "admin: join with a wrong token fails clearly" {
    local wt bad
    wt=$(on 1 docker swarm join-token -q worker)
    # right CA digest, wrong secret
    bad=${wt:0:60}0000000000000000000000000
    [ "$bad" != "$wt" ]
    run on 6 docker swarm join --token "$bad" "$(host_addr 1):2377"
    [ "$status" -ne 0 ]
    [[ $output =~ [Tt]oken|invalid|denied ]]
    # wrong CA digest (pinning fails)
    bad=SWMTKN-1-00000000000000000000000000000000000000000000000000-${wt:60}
    run on 6 docker swarm join --token "$bad" "$(host_addr 1):2377"
    [ "$status" -ne 0 ]
    [[ $output =~ [Tt]oken|CA|certificate|[Ff]ingerprint|invalid ]]
    # not a token at all
    run on 6 docker swarm join --token garbage "$(host_addr 1):2377"
    [ "$status" -ne 0 ]
    [[ $output =~ [Tt]oken|invalid ]]
    [ "$(on 6 docker info --format '{{.Swarm.LocalNodeState}}')" = inactive ]
    [ "$(on 1 docker node ls -q | wc -l)" -eq 5 ]
}

@test "admin: a rotated token stops working, the new one works" {
    local old new
    old=$(on 1 docker swarm join-token -q worker)
    run on 2 docker swarm join-token --rotate -q worker
    [ "$status" -eq 0 ]
    new=${lines[-1]}
    [[ $new == SWMTKN-1-* ]]
    [ "$new" != "$old" ]
    [ "$(on 3 docker swarm join-token -q worker)" = "$new" ]
    run on 6 docker swarm join --token "$old" "$(host_addr 1):2377"
    [ "$status" -ne 0 ]
    [[ $output =~ [Tt]oken|invalid|denied ]]
    run on 6 docker swarm join --token "$new" "$(host_addr 1):2377"
    [ "$status" -eq 0 ]
    [ "$output" = "This node joined a swarm as a worker." ]
    record_id 6
    wait_ready 6 1 30
}

@test "admin: rm of a live node is refused without --force" {
    field_is 1 6 '{{.Status.State}}' ready
    run on 1 docker node rm "$(id_of 6)"
    [ "$status" -ne 0 ]
    [[ $output == *"is not down and can't be removed"* ]]
    node_listed 1 "$(id_of 6)"
    node_listed 2 "$(id_of 6)"
}

@test "admin: rm of a down node; it cannot come back with its old certificate" {
    local g
    g=$(hb_grace)
    host_stop 6
    retry $((g * 5)) 0.2 field_is 1 6 '{{.Status.State}}' down
    run on 1 docker node rm "$(id_of 6)"
    [ "$status" -eq 0 ]
    [ "$output" = "$(id_of 6)" ]
    retry 20 0.25 node_unlisted 2 "$(id_of 6)"
    run on 1 docker node inspect "$(id_of 6)"
    [ "$status" -ne 0 ]
    # restart it with its data root (old certificate): it must stay out
    host_start 6
    stays_unlisted $((g > 8 ? 8 : g)) "$(id_of 6)"
    [ "$(ready_count 1)" -eq 5 ]
    [ "$(on 1 docker node ls -q | wc -l)" -eq 5 ]
    host_stop 6
}

@test "admin: rm --force of a live worker; it stays out" {
    run on 1 docker node rm --force "$(id_of 5)"
    [ "$status" -eq 0 ]
    retry 20 0.25 node_unlisted 2 "$(id_of 5)"
    # h5 keeps running with its old certificate: it must not come back
    pid_alive "$(host_pid 5)"
    stays_unlisted 5 "$(id_of 5)"
    [ "$(on 1 docker node ls -q | wc -l)" -eq 4 ]
}

@test "admin: a worker leaves; the managers show it Down" {
    run on 4 docker swarm leave
    [ "$status" -eq 0 ]
    [ "$output" = "Node left the swarm." ]
    [ "$(on 4 docker info --format '{{.Swarm.LocalNodeState}}')" = inactive ]
    retry $(($(hb_grace) * 5)) 0.2 field_is 1 4 '{{.Status.State}}' down
    on 1 docker node rm "$(id_of 4)"
    retry 20 0.25 node_unlisted 2 "$(id_of 4)"
}

@test "admin: a manager leaves only with --force; the others keep quorum" {
    local l m
    run on 3 docker swarm leave
    [ "$status" -ne 0 ]
    [[ $output == *"participating as a manager"* ]]
    [ "$(on 3 docker info --format '{{.Swarm.LocalNodeState}}')" = active ]
    # h3 may be a follower or the leader: --force must work either way
    run on 3 docker swarm leave --force
    [ "$status" -eq 0 ]
    [ "$output" = "Node left the swarm." ]
    [ "$(on 3 docker info --format '{{.Swarm.LocalNodeState}}')" = inactive ]
    # h1 and h2 are 2 of 3 voters: still a quorum, still writable
    l=$(retry 100 0.1 leader_of 1 2)
    [[ $l == 1 || $l == 2 ]]
    m=$l
    retry 20 0.5 on "$m" docker node update --label-add after=leave "$(id_of 1)"
    retry 20 0.2 field_is 2 1 '{{index .Spec.Labels "after"}}' leave
}
