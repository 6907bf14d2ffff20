#!/usr/bin/env bats
# tests/cluster/22-stop-partitioned.bats - shoald stops promptly on
# SIGTERM while one of its raft peers is cut off (issue 4: a channel the cut-off
# peer had opened, which it never closes, used to keep the loop alive).

load lib

setup_file() {
    cluster_setup_file 3 || return 1
    [[ -n ${CL_SKIP:-} ]] && return 0
    swarm_form 3 0 || return 1
    sleep 3
}
teardown_file() { cluster_down; }

@test "stop-partitioned: the leader exits within 10 s of SIGTERM while a follower is cut off" {
    local l f pid
    l=$(leader_of)
    for f in 1 2 3; do [[ $f != "$l" ]] && break; done
    host_partition "$f"
    sleep 3
    pid=$(host_pid "$l")
    kill -TERM "$pid"
    _wait_gone "$pid" 10
}
