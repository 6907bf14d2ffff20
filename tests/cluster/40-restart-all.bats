#!/usr/bin/env bats
# tests/cluster/40-restart-all.bats - restart every manager: the cluster comes
# back with every object intact, after more writes than the raft snapshot
# interval (10000 entries, swarm's default), so both snapshot restore and log
# replay are used; `swarm update --snapshot-interval` takes effect on every
# manager.

load lib

# writes before the first restart (interval 10000, plus a tail of log entries)
CL_WRITES=${CL_WRITES:-10600}

setup_file() {
    cluster_setup_file 4 || return 1
    [[ -n ${CL_SKIP:-} ]] && return 0
    swarm_form 3 1
}
teardown_file() { cluster_down; }

id_of() { cat "$T/h$1/id"; }

# state N - what must survive: every node's id, role, availability, labels,
# version, plus the cluster's id, CA digest and join tokens, as host N sees it
state() {
    local ids
    ids=$(on "$1" docker node ls -q | sort) || return 1
    # shellcheck disable=SC2086
    on "$1" docker node inspect --format '{{.ID}} {{.Spec.Role}} {{.Spec.Availability}} {{json .Spec.Labels}} {{.Status.Addr}}' $ids || return 1
    curl_host "$1" -sf http://d/v1.41/swarm | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(s["ID"], s["JoinTokens"]["Worker"], s["JoinTokens"]["Manager"], s.get("TLSInfo", {}).get("TrustRoot", "")[:200])
'
}

same_state() {
    diff <(state "$1") "$T/state.before"
}

@test "restart-all: 10600 label writes through the API (more than the snapshot interval)" {
    local l t0 t1
    l=$(leader_of)
    [ -n "$l" ]
    t0=$(now_ms)
    # four writers, each on its own node (no version races)
    run python3 "$CL_LIB_DIR/apiload.py" "$T/h$l/s.sock" "$(id_of 1),$(id_of 2),$(id_of 3),$(id_of 4)" "$CL_WRITES" 4 w
    t1=$(now_ms)
    echo "# $output" >&3
    echo "# $CL_WRITES writes in $((t1 - t0)) ms" >&3
    [ "$status" -eq 0 ]
    [[ $output == *"\"writes\": $CL_WRITES,"* ]]
    # a few distinct objects to check afterwards
    on "$l" docker node update --label-add keep=1 --label-add zone=x "$(id_of 1)"
    on "$l" docker node update --availability drain "$(id_of 4)"
    on "$l" docker node update --label-add role=mgr "$(id_of 2)"
    # every manager agrees
    state "$l" >"$T/state.before"
    cat "$T/state.before"
    local n
    for n in 1 2 3; do
        retry 40 0.5 same_state $n
    done
    grep -q '"w0":"' "$T/state.before"
    grep -q '"keep":"1"' "$T/state.before"
    # snapshots were taken on disk (libraft's uv backend names them snapshot-*)
    for n in 1 2 3; do
        run find "$T/h$n/d" -name 'snapshot-*' -not -name '*.meta'
        echo "h$n: $output"
        [ -n "$output" ]
    done
}

@test "restart-all: stop every manager, start them again: every object intact" {
    local n t0 t1
    for n in 1 2 3; do host_stop $n; done
    t0=$(now_ms)
    for n in 1 2 3; do host_start $n; done
    retry 200 0.1 leader_of 1 2 3 >/dev/null
    t1=$(now_ms)
    echo "# leader again $((t1 - t0)) ms after the start" >&3
    for n in 1 2 3; do
        retry 40 0.5 same_state $n
    done
    wait_ready 4 1 60
}

@test "restart-all: SIGKILL every manager, start them again: every object intact, writable" {
    local n l
    for n in 1 2 3; do host_kill $n; done
    for n in 3 2 1; do host_start $n; done
    l=$(retry 200 0.1 leader_of 1 2 3)
    for n in 1 2 3; do
        retry 40 0.5 same_state $n
    done
    run on "$l" docker node update --label-add after=crash "$(id_of 1)"
    [ "$status" -eq 0 ]
    for n in 1 2 3; do
        retry 20 0.2 bash -c "[[ \$(DOCKER_HOST=unix://$T/h$n/s.sock $DOCKER_BIN node inspect --format '{{index .Spec.Labels \"after\"}}' $(id_of 1)) == crash ]]"
    done
    wait_ready 4 "$l" 60
}

# highest raft index of a snapshot on host N's disk (names: snapshot-TERM-INDEX-MS)
last_snapshot() {
    find "$T/h$1/d" -name 'snapshot-*' -not -name '*.meta' -printf '%f\n' |
        awk -F- '$3 > m { m = $3 } END { print m + 0 }'
}
snapshot_after() { (($(last_snapshot "$1") > $2)); }

@test "restart-all: swarm update --snapshot-interval is followed by every manager" {
    local l n before=()
    l=$(leader_of 1 2 3)
    for n in 1 2 3; do before[n]=$(last_snapshot $n); done
    echo "snapshots before: ${before[*]}"
    on "$l" docker swarm update --snapshot-interval 300
    [[ $(on "$l" docker info --format '{{.Swarm.Cluster.Spec.Raft.SnapshotInterval}}') == 300 ]]
    # 700 writes: past the new interval at least twice, far from the next
    # snapshot at the default interval of 10000
    run python3 "$CL_LIB_DIR/apiload.py" "$T/h$l/s.sock" "$(id_of 1),$(id_of 2)" 700 2 s
    [ "$status" -eq 0 ]
    for n in 1 2 3; do
        retry 40 0.25 snapshot_after $n "${before[n]}"
        echo "h$n: snapshot at $(last_snapshot $n) (was ${before[n]})"
    done
    # back to the default for the tests that follow
    on "$l" docker swarm update --snapshot-interval 10000
}
