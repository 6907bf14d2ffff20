#!/usr/bin/env bats
# tests/cluster/10-form.bats - 3 managers + 2 workers formed with the stock
# docker CLI (issue 4: "How it is checked", first point).

load lib

setup_file() { cluster_setup_file 5; }
teardown_file() { cluster_down; }

TOKEN_RE='^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$'

@test "form: swarm init --advertise-addr on h1" {
    run on 1 docker swarm init --advertise-addr "$(host_addr 1)"
    [ "$status" -eq 0 ]
    [[ ${lines[0]} =~ ^Swarm\ initialized:\ current\ node\ \(([0-9a-z]{25})\)\ is\ now\ a\ manager\.$ ]]
    local id=${BASH_REMATCH[1]}
    [[ $output == *"docker swarm join --token SWMTKN-1-"*" $(host_addr 1):2377"* ]]
    record_id 1
    [ "$(cat "$T/h1/id")" = "$id" ]
    # Version.Index is the raft index of the last change, as in swarmkit:
    # 1 is the bootstrap configuration, 2 the new leader's barrier, 3 the
    # cluster object, 4 this node (a private counter would say 1 and 2)
    [ "$(curl_host 1 -sf http://d/v1.41/swarm | json_get Version.Index)" = 3 ]
    [ "$(on 1 docker node inspect --format '{{.Version.Index}}' "$id")" = 4 ]
    # a second init is refused
    run on 1 docker swarm init --advertise-addr "$(host_addr 1)"
    [ "$status" -ne 0 ]
    [[ $output == *"already part of a swarm"* ]]
}

@test "form: join-token -q manager|worker print two different tokens" {
    run on 1 docker swarm join-token -q manager
    [ "$status" -eq 0 ]
    [[ $output =~ $TOKEN_RE ]]
    local mt=$output
    run on 1 docker swarm join-token -q worker
    [ "$status" -eq 0 ]
    [[ $output =~ $TOKEN_RE ]]
    [ "$output" != "$mt" ]
    # same CA digest, different secrets
    [ "${output:0:60}" = "${mt:0:60}" ]
}

@test "form: h2 and h3 join as managers" {
    local mt n
    mt=$(on 1 docker swarm join-token -q manager)
    for n in 2 3; do
        run on $n docker swarm join --token "$mt" "$(host_addr 1):2377"
        [ "$status" -eq 0 ]
        [ "$output" = "This node joined a swarm as a manager." ]
        record_id $n
    done
}

@test "form: h4 and h5 join as workers" {
    local wt
    wt=$(on 1 docker swarm join-token -q worker)
    run on 4 docker swarm join --token "$wt" "$(host_addr 1):2377"
    [ "$status" -eq 0 ]
    [ "$output" = "This node joined a swarm as a worker." ]
    record_id 4
    # (joining through another manager: 11-join-race.bats)
    run on 5 docker swarm join --token "$wt" "$(host_addr 1):2377"
    [ "$status" -eq 0 ]
    [ "$output" = "This node joined a swarm as a worker." ]
    record_id 5
    # five distinct node ids
    [ "$(cat "$T"/h*/id | sort -u | wc -l)" -eq 5 ]
}

# check_node_ls N - host N's `docker node ls`: 5 Ready/Active rows, one
# Leader, two Reachable, the managers are h1-h3, the workers h4-h5, and the
# row marked Self is N's own id.
check_node_ls() {
    local n=$1 out id st av ms leaders=0 reach=0 h
    out=$(on "$n" docker node ls --format '{{.ID}}|{{.Status}}|{{.Availability}}|{{.ManagerStatus}}|{{.Self}}') || return 1
    [ "$(wc -l <<<"$out")" -eq 5 ] || { echo "h$n: $out"; return 1; }
    while IFS='|' read -r id st av ms self; do
        h=$(_host_of_id "$id") || { echo "unknown id $id"; return 1; }
        [ "$st" = Ready ] || { echo "h$n sees h$h $st"; return 1; }
        [ "$av" = Active ] || return 1
        case $h in
        1 | 2 | 3) [[ $ms == Leader || $ms == Reachable ]] || { echo "h$n: manager h$h '$ms'"; return 1; } ;;
        *) [ -z "$ms" ] || { echo "h$n: worker h$h '$ms'"; return 1; } ;;
        esac
        [[ $ms == Leader ]] && leaders=$((leaders + 1))
        [[ $ms == Reachable ]] && reach=$((reach + 1))
        if [[ $self == true ]]; then
            [ "$h" = "$n" ] || { echo "h$n: self is h$h"; return 1; }
        fi
    done <<<"$out"
    [ "$leaders" -eq 1 ] && [ "$reach" -eq 2 ]
}

@test "form: every manager shows all 5 Ready with the right roles and one Leader" {
    wait_ready 5 1 30
    local n l
    for n in 1 2 3; do
        retry 20 0.5 check_node_ls $n
    done
    # they agree on who leads
    l=$(retry 20 0.25 leaders_agree 1 2 3)
    [ -n "$l" ]
    # roles as the API reports them
    for n in 1 2 3; do
        [ "$(on 1 docker node inspect --format '{{.Spec.Role}}' "$(cat "$T/h$n/id")")" = manager ]
    done
    for n in 4 5; do
        [ "$(on 2 docker node inspect --format '{{.Spec.Role}}' "$(cat "$T/h$n/id")")" = worker ]
    done
    # the advertised addresses are the hosts' own
    for n in 1 2 3 4 5; do
        [ "$(on 3 docker node inspect --format '{{.Status.Addr}}' "$(cat "$T/h$n/id")")" = "$(host_addr $n)" ]
    done
    for n in 1 2 3; do
        [ "$(on 1 docker node inspect --format '{{.ManagerStatus.Addr}}' "$(cat "$T/h$n/id")")" = "$(host_addr $n):2377" ]
    done
}

@test "form: workers answer node ls with the 503 not-a-manager error" {
    local n
    for n in 4 5; do
        run on $n docker node ls
        [ "$status" -eq 1 ]
        [ "$output" = "Error response from daemon: This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager." ]
        run curl_host $n -s -o /dev/null -w '%{http_code}' http://d/v1.41/nodes
        [ "$output" = 503 ]
    done
}

@test "form: docker info shows the swarm on every host" {
    local n
    for n in 1 2 3 4 5; do
        [ "$(on $n docker info --format '{{.Swarm.LocalNodeState}}')" = active ]
        [ "$(on $n docker info --format '{{.Swarm.NodeAddr}}')" = "$(host_addr $n)" ]
    done
    for n in 1 2 3; do
        [ "$(on $n docker info --format '{{.Swarm.ControlAvailable}}')" = true ]
        [ "$(on $n docker info --format '{{.Swarm.Managers}} {{.Swarm.Nodes}}')" = "3 5" ]
    done
    for n in 4 5; do
        [ "$(on $n docker info --format '{{.Swarm.ControlAvailable}}')" = false ]
    done
    # one cluster
    local c
    c=$(on 1 docker info --format '{{.Swarm.Cluster.ID}}')
    [ -n "$c" ]
    [ "$(on 3 docker info --format '{{.Swarm.Cluster.ID}}')" = "$c" ]
}
