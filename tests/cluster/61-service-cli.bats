#!/usr/bin/env bats
# tests/cluster/61-service-cli.bats - `shoal service create/ls/ps/inspect/
# scale/update/rollback/logs/rm` (our CLI, build/shoal) against a real cluster:
# h1 manager, h2-h3 workers, busybox imported as bb:latest on every host.
#
# Output is checked in the form docker prints it (non-TTY progress lines,
# tables, `\_` history rows, exit codes).

load lib

setup_file() {
    cluster_setup_file 3 || return 1
    [[ -n ${CL_SKIP:-} ]] && return 0
    swarm_form 1 2 || return 1
    hosts_import_bb 1 2 3 || return 1
}
teardown_file() { cluster_down; }

# shoal ARGS... - our CLI, bounded like docker()
shoal() {
    timeout -k 5 "$SUITE_CMD_TIMEOUT" "$SHOAL_BUILD/shoal" "$@"
}

# tasks_running N SERVICE COUNT - host N sees COUNT running tasks of SERVICE
tasks_running() {
    local c
    c=$(on "$1" shoal service ps -q -f desired-state=running "$2" 2>/dev/null | wc -l) || return 1
    [[ $c == "$3" ]] || return 1
    [[ $(on "$1" shoal service ls --format '{{.Name}} {{.Replicas}}' | grep "^$2 ") == "$2 $3/$3"* ]]
}

# containers_on N - how many containers host N has (all states)
containers_on() {
    on "$1" docker ps -aq | wc -l
}

no_containers_anywhere() {
    local n
    for n in 1 2 3; do
        [[ $(containers_on "$n") == 0 ]] || return 1
    done
}

@test "service create: prints the ID, then converges with docker's progress lines" {
    run on 1 shoal service create --name web --replicas 3 --no-resolve-image \
        --update-monitor 1s --stop-grace-period 1s bb:latest sleep 100000
    [ "$status" -eq 0 ]
    local id=${lines[0]}
    [[ $id =~ ^[0-9a-z]{25}$ ]]
    [[ $output == *"overall progress: 0 out of 3 tasks"* ]]
    [[ $output == *"overall progress: 3 out of 3 tasks"* ]]
    [[ $output == *"verify: Waiting 1 seconds to verify that tasks are stable..."* ]]
    [ "${lines[-1]}" = "verify: Service $id converged" ]
    # non-TTY: no escape sequences, no repeated identical lines
    [[ $output != *$'\e'* ]]
    [ "$(printf '%s\n' "${lines[@]}" | uniq -d | wc -l)" -eq 0 ]
    echo "$id" >"$T/web.id"
}

@test "service create: a name conflict fails with exit 1 and the daemon's message" {
    run on 1 shoal service create -d --name web --no-resolve-image bb:latest sleep 1
    [ "$status" -eq 1 ]
    [[ $output == *"name conflicts with an existing object"* ]]
}

@test "service ls: table, -q, --format" {
    run on 1 shoal service ls
    [ "$status" -eq 0 ]
    [[ ${lines[0]} =~ ^ID\ +NAME\ +MODE\ +REPLICAS\ +IMAGE\ +PORTS$ ]]
    [[ ${lines[1]} =~ ^[0-9a-z]{12}\ +web\ +replicated\ +3/3\ +bb:latest\ *$ ]]
    run on 1 shoal service ls -q
    [ "$status" -eq 0 ]
    [ "$output" = "$(cut -c1-12 "$T/web.id")" ]
    run on 1 shoal service ls --format '{{.Name}}:{{.Mode}}:{{.Replicas}}'
    [ "$output" = "web:replicated:3/3" ]
}

@test "service ps: one running task per slot, named web.1..web.3, on our hosts" {
    run on 1 shoal service ps web
    [ "$status" -eq 0 ]
    [[ ${lines[0]} =~ ^ID\ +NAME\ +IMAGE\ +NODE\ +DESIRED\ STATE\ +CURRENT\ STATE\ +ERROR\ +PORTS$ ]]
    [ "${#lines[@]}" -eq 4 ]
    local slot
    for slot in 1 2 3; do
        [[ ${lines[$slot]} =~ ^[0-9a-z]{12}\ +web\.$slot\ +bb:latest\ +h[123]\ +Running\ +Running\  ]]
    done
    run on 1 shoal service ps -q --no-trunc web
    [ "${#lines[@]}" -eq 3 ]
    [[ ${lines[0]} =~ ^[0-9a-z]{25}$ ]]
    run on 1 shoal service ps nosuch
    [ "$status" -eq 1 ]
    [[ $output == *"no such service: nosuch"* ]]
}

@test "service scale web=5 converges; scale of a global service is refused" {
    run on 1 shoal service scale web=5
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "web scaled to 5" ]
    [ "${lines[-1]}" = "verify: Service web converged" ]
    retry 20 0.5 tasks_running 1 web 5
    run on 1 shoal service scale web
    [ "$status" -eq 1 ]
    [[ $output == *"Invalid scale specifier 'web'"* ]]
}

@test "service update --env-add rolls every task; ps shows the history rows" {
    run on 1 shoal service update --env-add X=1 --update-parallelism 2 web
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "web" ]
    [ "${lines[-1]}" = "verify: Service web converged" ]
    [ "$(on 1 shoal service inspect -f '{{json .Spec.TaskTemplate.ContainerSpec.Env}}' web)" = '["X=1"]' ]
    [ "$(on 1 shoal service inspect -f '{{.Spec.UpdateConfig.Parallelism}}' web)" = 2 ]
    retry 20 0.5 tasks_running 1 web 5
    # every running task carries the new env
    local envs
    envs=$(curl_host 1 -sf -G \
        --data-urlencode "filters={\"service\":{\"$(cat "$T/web.id")\":true},\"desired-state\":{\"running\":true}}" \
        http://d/v1.41/tasks | python3 -c '
import json, sys
print("\n".join(json.dumps(t["Spec"]["ContainerSpec"].get("Env")) for t in json.load(sys.stdin)))')
    [ "$(sort -u <<<"$envs")" = '["X=1"]' ]
    run on 1 shoal service ps web
    [ "$status" -eq 0 ]
    [[ $output == *' \_ web.1 '* ]]
    # the current task of a slot comes first, its history right after it
    [[ ${lines[1]} =~ \ web\.1\ +bb:latest\ +h[123]\ +Running ]]
    [[ ${lines[2]} =~ \ \\_\ web\.1\ +bb:latest\ +h[123]\ +Shutdown ]]
}

@test "service rollback returns to the previous spec" {
    run on 1 shoal service rollback web
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "web" ]
    [[ $output == *"rollback: manually requested rollback"* ]]
    [[ $output == *"overall progress: rolling back update: 5 out of 5 tasks"* ]]
    [ "$(on 1 shoal service inspect -f '{{json .Spec.TaskTemplate.ContainerSpec.Env}}' web)" != '["X=1"]' ]
    retry 20 0.5 tasks_running 1 web 5
}

@test "service update --rollback, then --detach returns at once" {
    run on 1 shoal service update --rollback -d web
    [ "$status" -eq 0 ]
    [ "$output" = "web" ]
    retry 40 0.5 tasks_running 1 web 5
    run on 1 shoal service update --rollback --env-add A=1 web
    [ "$status" -eq 1 ]
    [[ $output == *"other flags may not be combined with --rollback"* ]]
}

@test "service inspect: JSON array, --pretty, missing service" {
    run on 1 shoal service inspect web
    [ "$status" -eq 0 ]
    [ "$(json_get 0.Spec.Name <<<"$output")" = web ]
    run on 1 shoal service inspect --pretty web
    [ "$status" -eq 0 ]
    [[ $output == *$'Name:\t\tweb'* ]]
    [[ $output == *$'Service Mode:\tReplicated\n Replicas:\t5'* ]]
    run on 1 shoal service inspect nosuch
    [ "$status" -eq 1 ]
    [[ $output == *"Error: no such service: nosuch"* ]]
}

@test "service create --mode global: one task per node" {
    # shellcheck disable=SC2016 # expanded by the container's shell
    run on 1 shoal service create --mode global --name glob --no-resolve-image \
        --update-monitor 1s bb:latest sh -c 'i=0; while true; do echo tick$i; i=$((i+1)); sleep 1; done'
    [ "$status" -eq 0 ]
    [[ $output == *"overall progress: 3 out of 3 tasks"* ]]
    run on 1 shoal service ps -f desired-state=running --format '{{.Node}}' glob
    [ "$(sort <<<"$output" | tr '\n' ' ')" = "h1 h2 h3 " ]
    run on 1 shoal service scale glob=2
    [ "$status" -eq 1 ]
    [[ $output == *"scale can only be used with replicated or replicated-job mode"* ]]
}

@test "service logs: every node's lines, prefixed name.slot.task@host" {
    sleep 2
    run on 1 shoal service logs --tail 1 glob
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 3 ]
    local l
    for l in "${lines[@]}"; do
        [[ $l =~ ^glob\.0\.[0-9a-z]{12}@h[123]\ +\|\ tick[0-9]+$ ]]
    done
    run on 1 shoal service logs --tail 1 --no-task-ids glob
    [[ ${lines[0]} =~ ^glob\.0@h[123]\ +\|\ tick[0-9]+$ ]]
}

@test "node ps: the tasks of this node and of a node by name, like docker's" {
    run on 1 shoal node ps --filter desired-state=running
    [ "$status" -eq 0 ]
    [[ ${lines[0]} == "ID "*"NAME "*"IMAGE "*"NODE "*"DESIRED STATE "*"CURRENT STATE "* ]]
    # every row is a task on h1 (the manager)
    [ "${#lines[@]}" -ge 2 ]
    for l in "${lines[@]:1}"; do
        [[ $l == *" h1 "* ]]
    done
    # the same rows as the stock docker CLI prints
    [ "$(on 1 shoal node ps -q --no-trunc --filter desired-state=running h2 | sort)" = \
        "$(on 1 docker node ps -q --no-trunc --filter desired-state=running h2 | sort)" ]
    # -q truncates like docker's unless --no-trunc
    [ "$(on 1 shoal node ps -q --filter desired-state=running h2 | sort)" = \
        "$(on 1 docker node ps -q --filter desired-state=running h2 | sort)" ]
    run on 1 shoal node ps nosuchnode
    [ "$status" -eq 1 ]
    [[ $output == *"nosuchnode"* ]]
}

@test "service rm removes the services and every container" {
    run on 1 shoal service rm web glob nosuch
    [ "$status" -eq 1 ]
    [ "${lines[0]}" = web ]
    [ "${lines[1]}" = glob ]
    [[ $output == *"nosuch"* ]]
    run on 1 shoal service ls -q
    [ "$output" = "" ]
    retry 60 0.5 no_containers_anywhere
}
