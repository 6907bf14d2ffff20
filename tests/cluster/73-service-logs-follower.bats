#!/usr/bin/env bats
# tests/cluster/73-service-logs-follower.bats - `docker service logs` asked
# on a follower manager: the follower proxies the request to the leader over
# the cluster port's RPC channel and gets every node's lines; -f streams
# through it until the client goes away; a leader killed mid-request leaves a
# partial (local) answer within seconds. 3 managers + 1 worker.

load lib

setup_file() {
    cluster_setup_file 4 || return 1
    [[ -n ${CL_SKIP:-} ]] && return 0
    swarm_form 3 1 || return 1
    hosts_import_bb 1 2 3 4 || return 1
    on 1 docker service create -d --name once --replicas 4 bb:latest \
        sh -c 'echo hello-once; echo oops-once >&2; sleep 100000' >/dev/null || return 1
    # shellcheck disable=SC2016 # expanded by the task's shell
    on 1 docker service create -d --name tick --replicas 4 bb:latest \
        sh -c 'i=0; while true; do echo tick$i; i=$((i+1)); sleep 1; done' >/dev/null || return 1
    retry 120 0.5 replicas_are once 4/4 || return 1
    retry 120 0.5 replicas_are tick 4/4 || return 1
    sleep 2
}
teardown_file() {
    if [[ -n ${T:-} && -z ${CL_SKIP:-} ]]; then
        local n l
        l=$(leader_of 2>/dev/null) || l=2
        on "$l" docker service rm once tick >/dev/null 2>&1 || true
        for n in 1 2 3 4; do
            [[ -S $T/h$n/s.sock ]] || continue
            retry 60 0.5 bash -c "[ -z \"\$(DOCKER_HOST=unix://$T/h$n/s.sock $DOCKER_BIN ps -aq --filter label=com.docker.swarm.task.id 2>/dev/null)\" ]" || true
        done
    fi
    cluster_down
}

replicas_are() {
    [[ $(on 1 docker service ls --filter "name=$1" --format '{{.Replicas}}') == "$2" ]]
}

# a follower manager (host number), given the leader
follower_of() {
    local n
    for n in 1 2 3; do
        [[ $n == "$1" ]] || {
            echo "$n"
            return 0
        }
    done
}

# the distinct values of a field of "name.slot.task@host" prefixes
prefix_field() {
    sed -nE 's/^([a-z]+)\.([0-9]+)\.([a-z0-9]+)@(h[0-9]+) +\| .*$/\1 \2 \3 \4/p' |
        awk -v f="$1" '{print $f}' | sort -u
}

@test "service logs through a follower: every task's lines, from all 4 hosts" {
    local l f
    l=$(leader_of)
    f=$(follower_of "$l")
    echo "leader h$l, asking follower h$f"
    run on "$f" docker service logs once
    echo "$output"
    [ "$status" -eq 0 ]
    local out=$output
    [ "$(grep -cE '^once\.[1-4]\.[a-z0-9]{12}@h[1-4] +\| hello-once$' <<<"$out")" -eq 4 ]
    [ "$(grep -cE '^once\.[1-4]\.[a-z0-9]{12}@h[1-4] +\| oops-once$' <<<"$out")" -eq 4 ]
    [ "$(grep '| hello-once' <<<"$out" | prefix_field 4 | tr '\n' ' ')" = "h1 h2 h3 h4 " ]
    # stdout and stderr stay apart through the proxy
    run --separate-stderr on "$f" docker service logs once
    [ "$(grep -c 'hello-once' <<<"$output")" -eq 4 ]
    # shellcheck disable=SC2154 # set by run --separate-stderr
    [ "$(grep -c 'oops-once' <<<"$stderr")" -eq 4 ]
    # --tail and --timestamps: sorted by time across the hosts
    run on "$f" docker service logs --tail 2 --timestamps tick
    echo "$output"
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 8 ]
    local ts
    ts=$(printf '%s\n' "${lines[@]}" | cut -d' ' -f1)
    [ "$ts" = "$(sort <<<"$ts")" ]
    # one task on another host, by its id
    local tid
    tid=$(grep "| hello-once" <<<"$out" | grep -v "@h$f " | head -1 | prefix_field 3)
    run on "$f" docker service logs --raw "$tid"
    [ "$status" -eq 0 ]
    [ "$(grep -c 'hello-once' <<<"$output")" -eq 1 ]
    # the other follower too
    local g
    for g in 1 2 3; do [[ $g != "$l" && $g != "$f" ]] && break; done
    run on "$g" docker service logs once
    [ "$(grep '| hello-once' <<<"$output" | prefix_field 4 | tr '\n' ' ')" = "h1 h2 h3 h4 " ]
}

@test "service logs -f through a follower: later lines from every host, ends when killed" {
    local l f out=$T/follow.out t0 t1
    l=$(leader_of)
    f=$(follower_of "$l")
    t0=$(now_ms)
    timeout -s INT 5 "$DOCKER_BIN" -H "unix://$T/h$f/s.sock" service logs -f --tail 0 tick >"$out" 2>&1 || true
    t1=$(now_ms)
    cat "$out"
    [ $((t1 - t0)) -lt 8000 ]
    [ "$(grep -cE '\| tick[0-9]+$' "$out")" -ge 8 ]
    [ "$(prefix_field 4 <"$out" | tr '\n' ' ')" = "h1 h2 h3 h4 " ]
    # the leader stopped that stream: a second one works the same
    timeout -s INT 3 "$DOCKER_BIN" -H "unix://$T/h$f/s.sock" service logs -f --tail 1 tick >"$out" 2>&1 || true
    [ "$(prefix_field 4 <"$out" | tr '\n' ' ')" = "h1 h2 h3 h4 " ]
}

@test "service logs through a follower: the leader killed mid-request -> partial answer, quickly" {
    local l f pid t0 t1 out=$T/partial.out rc=0
    l=$(leader_of)
    f=$(follower_of "$l")
    # frozen, the leader takes the request and never answers...
    kill -STOP "$(host_pid "$l")"
    t0=$(now_ms)
    "$DOCKER_BIN" -H "unix://$T/h$f/s.sock" service logs once >"$out" 2>&1 &
    pid=$!
    sleep 1
    # ...then dies
    host_kill "$l"
    wait "$pid" || rc=$?
    t1=$(now_ms)
    cat "$out"
    echo "rc $rc, $((t1 - t0)) ms"
    [ "$rc" -eq 0 ]
    [ $((t1 - t0)) -lt 6000 ]
    # this node's own task at least
    [ "$(grep -c "@h$f .*| hello-once" "$out")" -ge 1 ]
    # the next request goes to the new leader: every live host answers
    # shellcheck disable=SC2016
    retry 60 0.5 bash -c '
        o=$(DOCKER_HOST=unix://'"$T/h$f"'/s.sock '"$DOCKER_BIN"' service logs once 2>&1)
        for h in '"$(for n in 1 2 3 4; do [[ $n != "$l" ]] && printf 'h%s ' "$n"; done)"'; do
            grep -q "@$h .*| hello-once" <<<"$o" || exit 1
        done'
    # back, so that teardown can clean up its containers
    host_start "$l"
    wait_ready 4 "$f" 60
}
