#!/usr/bin/env bats
# tests/cluster/72-service-logs.bats - `docker service logs` across hosts
# (issue 5): lines of every task on every node with Docker's
# "name.slot.task@host    | " prefix, --tail, -f, partial results when a node
# is gone, and `shoal service logs`. 1 manager + 2 workers.

load lib

setup_file() {
    cluster_setup_file 3 || return 1
    [[ -n ${CL_SKIP:-} ]] && return 0
    swarm_form 1 2 || return 1
    hosts_import_bb 1 2 3 || return 1
    on 1 docker service create -d --name once --replicas 3 bb:latest \
        sh -c 'echo hello-once; echo oops-once >&2; sleep 100000' >/dev/null || return 1
    # shellcheck disable=SC2016 # expanded by the task's shell
    on 1 docker service create -d --name tick --replicas 3 bb:latest \
        sh -c 'i=0; while true; do echo tick$i; i=$((i+1)); sleep 1; done' >/dev/null || return 1
    retry 120 0.5 replicas_are once 3/3 || return 1
    retry 120 0.5 replicas_are tick 3/3 || return 1
    sleep 2
}
teardown_file() {
    if [[ -n ${T:-} && -z ${CL_SKIP:-} ]]; then
        on 1 docker service rm once tick >/dev/null 2>&1 || true
        local n
        for n in 1 2 3; do
            [[ -S $T/h$n/s.sock ]] || continue
            retry 60 0.5 bash -c "[ -z \"\$(DOCKER_HOST=unix://$T/h$n/s.sock $DOCKER_BIN ps -aq --filter label=com.docker.swarm.task.id 2>/dev/null)\" ]" || true
        done
    fi
    cluster_down
}

replicas_are() {
    [[ $(on 1 docker service ls --filter "name=$1" --format '{{.Replicas}}') == "$2" ]]
}

# the distinct values of a field of "name.slot.task@host" prefixes
prefix_field() {
    sed -nE 's/^([a-z]+)\.([0-9]+)\.([a-z0-9]+)@(h[0-9]+) +\| .*$/\1 \2 \3 \4/p' |
        awk -v f="$1" '{print $f}' | sort -u
}

@test "service logs: one line per task from every node, with Docker's prefix" {
    run on 1 docker service logs once
    echo "$output"
    [ "$status" -eq 0 ]
    local out=$output
    [ "$(grep -cE '^once\.[123]\.[a-z0-9]{12}@h[123] +\| hello-once$' <<<"$out")" -eq 3 ]
    [ "$(grep -cE '^once\.[123]\.[a-z0-9]{12}@h[123] +\| oops-once$' <<<"$out")" -eq 3 ]
    [ "$(grep '| hello-once' <<<"$out" | prefix_field 2 | wc -l)" -eq 3 ]
    [ "$(grep '| hello-once' <<<"$out" | prefix_field 3 | wc -l)" -eq 3 ]
    # spread one per node: every host answered
    [ "$(grep '| hello-once' <<<"$out" | prefix_field 4 | tr '\n' ' ')" = "h1 h2 h3 " ]
    # stdout and stderr are kept apart
    run --separate-stderr on 1 docker service logs once
    [ "$(grep -c 'hello-once' <<<"$output")" -eq 3 ]
    # shellcheck disable=SC2154 # $stderr is set by run --separate-stderr
    [ "$(grep -c 'oops-once' <<<"$stderr")" -eq 3 ]
    # one task by its id
    local tid
    tid=$(grep '| hello-once' <<<"$out" | head -1 | prefix_field 3)
    run on 1 docker service logs --raw "$tid"
    [ "$status" -eq 0 ]
    [ "$(grep -c 'hello-once' <<<"$output")" -eq 1 ]
}

@test "service logs: --tail 1 gives the last line of each task; --timestamps" {
    run on 1 docker service logs --tail 1 tick
    echo "$output"
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 3 ]
    [ "$(printf '%s\n' "${lines[@]}" | prefix_field 4 | tr '\n' ' ')" = "h1 h2 h3 " ]
    run on 1 docker service logs --tail 2 --timestamps tick
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 6 ]
    # the CLI puts the time first: "2026-...Z tick.1.xxx@h1    | tick5"
    [[ ${lines[0]} =~ ^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z\ tick\.[123]\..*\|\ tick[0-9]+$ ]]
    # sorted by time across the nodes
    local ts
    ts=$(printf '%s\n' "${lines[@]}" | cut -d' ' -f1)
    [ "$ts" = "$(sort <<<"$ts")" ]
}

@test "service logs -f: lines printed later arrive, from every node" {
    local f=$T/follow.out
    timeout -s INT 5 "$DOCKER_BIN" -H "unix://$T/h1/s.sock" service logs -f --tail 0 tick >"$f" 2>&1 || true
    cat "$f"
    [ "$(grep -cE '\| tick[0-9]+$' "$f")" -ge 6 ]
    [ "$(prefix_field 4 <"$f" | tr '\n' ' ')" = "h1 h2 h3 " ]
}

@test "shoal service logs" {
    run on 1 "$SHOAL_BUILD/shoal" service logs once
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$(grep -c 'hello-once' <<<"$output")" -eq 3 ]
}

@test "service logs: a killed worker leaves a partial answer, quickly" {
    host_kill 3
    local t0 t1
    t0=$(now_ms)
    run on 1 docker service logs once
    t1=$(now_ms)
    echo "$output ($((t1 - t0)) ms)"
    [ "$status" -eq 0 ]
    [ $((t1 - t0)) -lt 4000 ]
    [ "$(grep -c '@h1 .*| hello-once' <<<"$output")" -ge 1 ]
    [ "$(grep -c '@h2 .*| hello-once' <<<"$output")" -ge 1 ]
    [ "$(grep -c '@h3 ' <<<"$output")" -eq 0 ]
    # follow does not hang either: it streams what it can until stopped
    local f=$T/follow2.out
    timeout -s INT 3 "$DOCKER_BIN" -H "unix://$T/h1/s.sock" service logs -f --tail 1 tick >"$f" 2>&1 || true
    [ "$(grep -cE '@h[12] .*\| tick[0-9]+$' "$f")" -ge 2 ]
    # back, so that teardown can clean it up
    host_start 3
    wait_ready 3 1 60
}
