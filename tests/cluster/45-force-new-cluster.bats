#!/usr/bin/env bats
# tests/cluster/45-force-new-cluster.bats - quorum-loss recovery: two of three
# managers are lost for good, `docker swarm init --force-new-cluster` on the
# survivor makes it the only raft voter with the state it had.

load lib

setup_file() {
    cluster_setup_file 3 || return 1
    [[ -n ${CL_SKIP:-} ]] && return 0
    swarm_form 3 0
}
teardown_file() { cluster_down; }

id_of() { cat "$T/h$1/id"; }

label_is() {
    [[ $(on "$1" docker node inspect --format "{{index .Spec.Labels \"$3\"}}" "$(id_of "$2")" 2>/dev/null) == "$4" ]]
}

@test "force-new-cluster: the survivor of a lost quorum recovers alone, with its data" {
    local s=3 n v out
    # state written before the disaster, seen by the survivor
    on 1 docker node update --label-add before=1 "$(id_of 2)"
    on 2 docker node update --label-add zone=x "$(id_of 3)"
    retry 40 0.25 label_is $s 2 before 1
    retry 40 0.25 label_is $s 3 zone x
    host_kill 1
    host_kill 2
    # no quorum: writes are refused
    run on $s docker node update --label-add lost=1 "$(id_of 3)"
    [ "$status" -ne 0 ]
    run on $s docker swarm init --force-new-cluster --advertise-addr "$(host_addr $s)"
    [ "$status" -eq 0 ]
    [[ ${lines[0]} == "Swarm initialized: current node ($(id_of $s)) is now a manager." ]]
    # it leads alone and takes writes
    retry 40 0.25 on $s docker node update --label-add after=1 "$(id_of 3)"
    label_is $s 3 after 1
    [ "$(leader_of $s)" = "$s" ]
    # the data is intact: every node and every label
    out=$(on $s docker node ls -q | sort)
    [ "$out" = "$(cat "$T"/h{1,2,3}/id | sort)" ]
    label_is $s 2 before 1
    label_is $s 3 zone x
    [ -z "$(on $s docker node inspect --format '{{index .Spec.Labels "lost"}}' "$(id_of 3)")" ]
    # the same cluster, not a new one
    [ "$(on $s docker info --format '{{.Swarm.NodeID}}')" = "$(id_of $s)" ]
    # versions keep growing from the old log
    v=$(on $s docker node inspect --format '{{.Version.Index}}' "$(id_of 3)")
    [ "$v" -gt 4 ]
    # the lost managers are cleaned up as docker tells the user to: demote, rm
    for n in 1 2; do
        retry 20 0.5 on $s docker node demote "$(id_of $n)"
    done
    for n in 1 2; do
        retry 40 0.5 on $s docker node rm --force "$(id_of $n)"
    done
    out=$(on $s docker node ls -q)
    [ "$out" = "$(id_of $s)" ]
    # and the single-manager cluster still takes writes
    on $s docker node update --label-add last=1 "$(id_of $s)"
    label_is $s $s last 1
}

@test "force-new-cluster: the recovered manager restarts with the new configuration" {
    local s=3
    host_restart $s
    retry 60 0.25 on $s docker node update --label-add restarted=1 "$(id_of $s)"
    label_is $s $s restarted 1
    label_is $s $s last 1
    [ "$(leader_of $s)" = "$s" ]
}
