#!/usr/bin/env bats
# tests/cluster/pending/30-admin-managers.bats - a manager must be demoted
# before it can be removed, --force or not (swarmkit: FailedPrecondition "node
# ... is a cluster manager and is a member of the raft cluster. It must be
# demoted to worker before removal").
# PENDING (not run by make test): against the tree of 2026-11-22 (2729fb9)
# `docker node rm --force <manager>` removes a manager that was not demoted.

load ../lib

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
    [[ $output == *"must be demoted"* || $output == *"is a cluster manager"* ]]
    node_listed 1 "$(id_of 2)"
    retry 20 0.5 on 2 docker node ls -q
    run on 1 docker node rm "$(id_of 3)"
    [ "$status" -ne 0 ]
    node_listed 1 "$(id_of 3)"
}
