#!/usr/bin/env bats
# tests/cluster/21-failover-early.bats - lose the leader right after
# three managers joined and `docker node ls` shows them all Ready/Reachable.
# As docker, a manager's `swarm join` returns once it is a voting raft member,
# so the two survivors keep a quorum (issue 4: they used to be left without
# one when join returned while the new manager was still a non-voter).

load lib

setup_file() {
    cluster_setup_file 3 || return 1
    [[ -n ${CL_SKIP:-} ]] && return 0
    swarm_form 3 0
}
teardown_file() { cluster_down; }

new_leader_besides() {
    local l
    # shellcheck disable=SC2046
    l=$(leader_of $(for m in 1 2 3; do [[ $m != "$1" ]] && echo $m; done)) || return 1
    [[ $l != "$1" ]] && echo "$l"
}

@test "failover-early: kill the leader as soon as all managers show Reachable" {
    local old new
    old=$(leader_of)
    host_kill "$old"
    new=$(retry 100 0.1 new_leader_besides "$old")
    [ -n "$new" ]
    on "$new" docker node update --label-add early=1 "$(cat "$T/h$new/id")"
}
