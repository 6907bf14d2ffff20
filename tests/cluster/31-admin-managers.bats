#!/usr/bin/env bats
# tests/cluster/31-admin-managers.bats - a manager must be demoted
# before it can be removed, --force or not (swarmkit: FailedPrecondition "node
# ... is a cluster manager and is a member of the raft cluster. It must be
# demoted to worker before removal").

load lib

setup_file() {
    cluster_setup_file 3 || return 1
    [[ -n ${CL_SKIP:-} ]] && return 0
    swarm_form 3 0
}
teardown_file() { cluster_down; }

id_of() { cat "$T/h$1/id"; }

node_listed() {
    on "$1" docker node ls -q | grep -qx "$2"
}

@test "admin: a manager cannot be removed, even with --force, before it is demoted" {
    run on 1 docker node rm --force "$(id_of 2)"
    [ "$status" -ne 0 ]
    [ "$output" = "Error response from daemon: rpc error: code = FailedPrecondition desc = node $(id_of 2) is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal" ]
    node_listed 1 "$(id_of 2)"
    retry 20 0.5 on 2 docker node ls -q
    run on 1 docker node rm "$(id_of 3)"
    [ "$status" -ne 0 ]
    node_listed 1 "$(id_of 3)"
}
